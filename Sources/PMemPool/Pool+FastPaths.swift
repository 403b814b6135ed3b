import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics

/// The one-write paths: in place, one logged piece, one remapped chunk.
/// None allocates, hashes or looks up a task-local value in a release build;
/// the general planner (Pool+Commit.swift) handles everything else.
extension Pool {
    /// Flush, fence and copy-and-flush through the persistence table, each
    /// at a named site: a test may leave out the call at one site
    /// (Pool+TestHooks.swift); a release build calls the table.
    @inline(__always)
    func flush(_ address: UnsafeRawPointer, _ count: Int, at site: PersistenceSite) {
        if !Self.drops(site) { persistence.flush(address, count) }
    }

    @inline(__always)
    func fence(at site: PersistenceSite) {
        if !Self.drops(site) { persistence.drain() }
    }

    /// Left out, the copy is made with ordinary stores and not flushed.
    @inline(__always)
    func copyAndFlush(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int, at site: PersistenceSite) {
        if Self.drops(site) { destination.copyMemory(from: source, byteCount: count) } else { persistence.copyAndFlush(destination, source, count) }
    }

    /// If a record may still be valid for chunk `logical` (docs/FORMAT.md,
    /// invariant I2), takes its lane and says whether the record is still
    /// there. Taking the lane waits for a holder that may be overwriting it:
    /// until that holder's commit fence, the old record can still be valid on
    /// the media even though the lane's memory already shows the new one.
    /// nil: no record to consider. Holds the chunk's lock; a lane's holder
    /// never waits for a chunk, so this wait always ends.
    @inline(__always)
    func takeLaneOfRecord(touching logical: Int) -> (lane: Int, live: Bool)? {
        let lane = locks.lastLane(logical)
        guard lane >= 0 else { return nil }
        locks.lockLane(lane)
        let word = pmem_load64(file.base + layout.laneOffset(lane) + CommitRecord.sequenceOffset)
        let live = UInt64(littleEndian: word) == locks.lastSequence(logical)
        if !live { locks.setLastLane(logical, -1) } // overwritten, durably: that record is gone
        return (lane, live)
    }

    /// The lane for a commit touching chunk `logical`: the lane of the record
    /// that may still be valid for the chunk, which the new record then
    /// overwrites (so no other lane's record needs killing), else any free one.
    @inline(__always)
    func lane(forCommitTouching logical: Int) -> Int {
        if let (held, live) = takeLaneOfRecord(touching: logical) {
            if live { return held }
            // Gone, durably (its overwriter has fenced): take this thread's
            // own lane instead, so that threads do not end up sharing one.
            locks.releaseLane(held)
        }
        return locks.acquireLane()
    }

    /// Kills the record in `lane`, which the caller holds: its sequence word
    /// becomes 0 (one atomic store), and the line is flushed; the caller's
    /// next fence makes it durable. Killing a record whose commit returned is
    /// always safe: it was applied and fenced before its lane was released.
    @inline(__always)
    func kill(lane: Int, at site: PersistenceSite) {
        let record = file.base + layout.laneOffset(lane)
        pmem_store64(record + CommitRecord.sequenceOffset, 0)
        flush(record, CommitRecord.headerSize, at: site)
    }

    /// Before a write that leaves no record (in place, `Pool.storeUncommitted`) touches
    /// chunk `logical`: kills a record still valid for the chunk and fences,
    /// so that no crash from here on can replay it over the new bytes (a
    /// replay over part of an 8-byte word would tear the word). Costs a fence
    /// only when such a record exists. Holds the chunk's lock; returns the
    /// lane it killed, still held, or nil.
    @inline(__always)
    func killLiveRecord(touching logical: Int) -> Int? {
        if defersApply { return killLiveRecordsOfPair(touching: logical) }
        guard let (held, live) = takeLaneOfRecord(touching: logical) else { return nil }
        locks.setLastLane(logical, -1)
        guard live else {
            locks.releaseLane(held)
            return nil
        }
        kill(lane: held, at: .noRecordKillFlush)
        fence(at: .noRecordKillFence)
        return held
    }

    /// The next sequence number for a record in `lane` touching `logical`.
    @inline(__always)
    func nextSequence(lane: Int, logical: Int) -> UInt64 {
        max(locks.laneSequence(lane), locks.lastSequence(logical)) &+ 1
    }

    /// Notes that `lane`'s record with `sequence` touches `logical`.
    @inline(__always)
    func noteRecord(lane: Int, sequence: UInt64, logical: Int) {
        locks.setLastSequence(logical, sequence)
        locks.setLastLane(logical, lane)
    }

    /// At most 8 bytes inside one aligned 8-byte word: merged into the word
    /// and stored with one atomic 8-byte store, flushed, fenced.
    func storeInPlace(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(PMemError) {
        let logical = layout.chunk(of: offset)
        guard locks.lock(chunk: logical) else { throw needsRecoveryError }
        defer { locks.unlock(chunk: logical) }
        // An in-place write leaves no record: a record still valid for this
        // chunk dies first (I2). No lane otherwise: its counters are the
        // chunk's.
        let killed = killLiveRecord(touching: logical)
        defer { if let killed { locks.releaseLane(killed) } }
        // Through the file mapping (the same memory as the view), so that the
        // flush names the file's own addresses.
        let word = fileAddress(ofLogical: offset & ~7)
        // A whole word needs no merge, so its line is not read.
        var value: UInt64
        if bytes.count == 8 {
            value = bytes.loadUnaligned(as: UInt64.self)
        } else {
            value = pmem_load64(word)
            withUnsafeMutableBytes(of: &value) { w in
                for i in 0..<bytes.count { w[offset & 7 + i] = bytes[i] }
            }
        }
        if wordPersistence == .streamed {
            // Cache-line flushes, on a CPU where this measured faster at
            // open: one non-temporal store, which needs no flush.
            if Self.drops(.inPlaceStream) { pmem_store64(word, value) } else { persistence.storeWordNonTemporally(word, value) }
        } else {
            pmem_store64(word, value)
            flush(word, 8, at: .inPlaceFlush)
        }
        fence(at: .inPlaceFence)
        locks.addInPlace(chunk: logical, bytes: bytes.count)
    }

    /// From this many bytes on, a logged payload is copied into its lane with
    /// non-temporal stores where flushes are cache-line ones (measured with
    /// pmem-compare, docs/FORMAT.md step 3: with the one-pass copy, 512 B
    /// went from 392–406 ns to 343–361 when this fell from 2 KiB to 256 B).
    static let streamedLogMinimum = 256

    /// One write inside one chunk, through the log: the record (one entry)
    /// and its header flushed as one range, one fence; applied, one fence.
    func logOne(_ bytes: UnsafeRawBufferPointer, at offset: Int, logical: Int) throws(PMemError) {
        guard locks.lock(chunk: logical) else { throw needsRecoveryError }
        defer { locks.unlock(chunk: logical) }
        let lane = lane(forCommitTouching: logical)
        defer { locks.releaseLane(lane) }
        let sequence = nextSequence(lane: lane, logical: logical)

        let record = file.base + layout.laneOffset(lane)
        let body = record + CommitRecord.headerSize
        CommitRecord.writeEntryHead(body, kind: 1, a: UInt64(offset), b: UInt64(bytes.count))
        let padded = PoolLayout.alignUp(bytes.count, 8)
        let length = CommitRecord.entryHeadSize + padded
        let streamed = persistence.flushesLines && bytes.count >= Self.streamedLogMinimum
        // The payload's bytes in the line it shares with the entry head (the
        // lane starts a line): stored through the cache and flushed with the
        // header, so that line reaches the media once, not also as a
        // non-temporal part-line.
        let sharedLine = min(padded, (64 - (CommitRecord.headerSize + CommitRecord.entryHeadSize) % 64) % 64)
        if streamed, let sums = copyChecksummed(at: .streamedLogPayloadCopy, into: body + CommitRecord.entryHeadSize,
                                                head: UnsafeRawBufferPointer(start: body, count: CommitRecord.entryHeadSize),
                                                data: bytes, throughCache: sharedLine) {
            // Large, on cache-line flushes: copied and checksummed in one
            // pass, with non-temporal stores past the entry head's line (the
            // last word zero-padded), so the payload is read once and never
            // read back, and only the header's and the entry head's lines need
            // a flush.
            try Self.simulateCrash(at: .afterLogBody)
            CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: length, bodyChecksums: sums)
            flush(record, CommitRecord.headerSize + CommitRecord.entryHeadSize + sharedLine, at: .streamedLogHeaderFlush)
        } else if streamed {
            if padded > bytes.count {
                (body + CommitRecord.entryHeadSize + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - bytes.count)
            }
            // Large, on a cache-line flush: the payload goes in with libpmem2's
            // flushing copy (non-temporal stores), so it is never read back;
            // the checksums come from the caller's bytes (which must not
            // change during the call, as for any write). Up to three flush
            // calls, none an msync.
            let data = body + CommitRecord.entryHeadSize
            let cached = min(bytes.count, sharedLine) // flushed with the header below
            data.copyMemory(from: bytes.baseAddress!, byteCount: cached)
            if bytes.count > cached { copyAndFlush(data + cached, bytes.baseAddress! + cached, bytes.count - cached, at: .copiedLogPayloadCopy) }
            try Self.simulateCrash(at: .afterLogBody)
            let sums = CRC32C.threeParts(head: UnsafeRawBufferPointer(start: body, count: CommitRecord.entryHeadSize),
                                         data: bytes, padding: padded - bytes.count)
            CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: length, bodyChecksums: sums)
            // The header and the entry head, then the padding: stored before
            // the copy with ordinary stores, in lines the copy shares, but a
            // non-temporal store writes only its own bytes (libpmem2 ends some
            // copies with one, flushing nothing), so they are flushed here.
            flush(record, CommitRecord.headerSize + CommitRecord.entryHeadSize + sharedLine, at: .copiedLogHeaderFlush)
            if padded > max(bytes.count, sharedLine) {
                flush(body + CommitRecord.entryHeadSize + bytes.count, padded - bytes.count, at: .copiedLogPaddingFlush)
            }
        } else {
            // Small, or an msync per flush: copied through the cache, the
            // checksums read from there, the whole record one flush.
            if padded > bytes.count {
                (body + CommitRecord.entryHeadSize + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - bytes.count)
            }
            (body + CommitRecord.entryHeadSize).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            try Self.simulateCrash(at: .afterLogBody)
            CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: length)
            flush(record, CommitRecord.headerSize + length, at: .logRecordFlush)
        }
        fence(at: .logCommitFence)
        noteRecord(lane: lane, sequence: sequence, logical: logical)
        locks.setLaneSequence(lane, sequence)
        // Committed: a failure from here on leaves the rest to recovery.
        var finished = false
        defer { if !finished { locks.poison() } }
        try Self.simulateCrash(at: .afterCommitRecord)

        copyAndFlush(fileAddress(ofLogical: offset), bytes.baseAddress!, bytes.count, at: .logApplyCopy)
        fence(at: .logApplyFence)
        locks.add(lane: lane, commits: 1, bytesRequested: bytes.count, logBytes: CommitRecord.headerSize + length,
                           appliedBytes: bytes.count, fences: 2)
        try Self.simulateCrash(at: .afterApply)
        finished = true
    }

    /// One write inside one chunk, by remapping: the chunk's new contents (the
    /// bytes the write leaves, copied from the chunk's current physical copy,
    /// and the write) go into a spare chunk; the record holds one page-table
    /// entry.
    func remapOne(_ bytes: UnsafeRawBufferPointer, at offset: Int, logical: Int) throws(PMemError) {
        guard locks.lock(chunk: logical) else { throw needsRecoveryError }
        defer { locks.unlock(chunk: logical) }
        var spare = 0
        let took = withUnsafeMutablePointer(to: &spare) { locks.takeSpares(1, into: UnsafeMutableBufferPointer(start: $0, count: 1)) }
        guard took else { throw needsRecoveryError }
        let lane = lane(forCommitTouching: logical)
        defer { locks.releaseLane(lane) }
        var committed = false, finished = false
        defer {
            if !committed { withUnsafePointer(to: spare) { locks.free(UnsafeBufferPointer(start: $0, count: 1)) } }
            // Committed but not finished: only recovery may finish it.
            else if !finished { locks.poison() }
        }
        let sequence = nextSequence(lane: lane, logical: logical)

        let chunk = layout.chunkSize
        let start = offset - logical * chunk, end = start + bytes.count
        let destination = file.base + layout.chunkOffset(spare)
        let current = file.base + layout.chunkOffset(pageTable[logical])
        if start > 0 { copyAndFlush(destination, current, start, at: .remapBytesBeforeCopy) }
        if end < chunk { copyAndFlush(destination + end, current + end, chunk - end, at: .remapBytesAfterCopy) }
        copyAndFlush(destination + start, bytes.baseAddress!, bytes.count, at: .remapWriteCopy)
        // The record's checksum does not cover the chunk: its contents must be
        // durable before a record can name it.
        fence(at: .remapDataFence)

        let record = file.base + layout.laneOffset(lane)
        CommitRecord.writeEntryHead(record + CommitRecord.headerSize, kind: 2, a: UInt64(logical), b: UInt64(spare))
        try Self.simulateCrash(at: .afterLogBody)
        CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: CommitRecord.entryHeadSize)
        flush(record, CommitRecord.headerSize + CommitRecord.entryHeadSize, at: .remapRecordFlush)
        fence(at: .remapCommitFence)
        committed = true
        noteRecord(lane: lane, sequence: sequence, logical: logical)
        locks.setLaneSequence(lane, sequence)
        try Self.simulateCrash(at: .afterCommitRecord)

        let slot = file.base + PoolLayout.pageTableEntryOffset(logical)
        pmem_store64(slot, PageTableEntry.encode(logical: logical, physical: spare).littleEndian)
        flush(slot, 8, at: .remapPageTableFlush)
        fence(at: .remapApplyFence)
        try Self.simulateCrash(at: .afterApply)
        let replaced = pageTable[logical]
        pageTable[logical] = spare
        // On failure the change is durable but the view cannot show it: the
        // pool is poisoned (by the defer) until a reopen.
        try mapChunks(logical, count: 1, physical: spare)
        finished = true
        withUnsafePointer(to: replaced) { locks.free(UnsafeBufferPointer(start: $0, count: 1)) }
        locks.add(lane: lane, commits: 1, bytesRequested: bytes.count, logBytes: CommitRecord.headerSize + CommitRecord.entryHeadSize,
                  appliedBytes: 8, remapBytes: chunk, remaps: 1, fences: 3)
    }

    /// The table's one-pass copy and checksum (non-temporal past
    /// `throughCache`). Left out, the same copy is made with the CPU's
    /// non-temporal stores but without the table, so a simulated domain
    /// never learns of them: they are lost in every crash image.
    @inline(__always)
    func copyChecksummed(at site: PersistenceSite, into destination: UnsafeMutableRawPointer, head: UnsafeRawBufferPointer,
                         data: UnsafeRawBufferPointer, throughCache: Int) -> (UInt32, UInt32, UInt32)? {
        if Self.drops(site) { return CRC32C.copyThreeParts(into: destination, head: head, data: data, throughCache: throughCache) }; return persistence.copyChecksummed(destination, head, data, throughCache)
    }
}
