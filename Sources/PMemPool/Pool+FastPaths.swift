import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics

/// The persistence steps every commit path is made of, each at a named
/// site, and the write that leaves no record: at most 8 bytes in place.
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
