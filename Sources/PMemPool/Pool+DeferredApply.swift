import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics

/// The commit paths where a flush is an `msync` (docs/FORMAT.md, "Deferred
/// apply"): lanes are taken in pairs, a new record overwrites the older slot
/// of its pair, and a one-write logged commit is acknowledged after one sync
/// of the whole file, which makes its record durable together with every
/// apply made before it. Its own apply is then left to the next sync, its
/// record staying valid until then; nothing may overwrite or kill a record
/// before its apply is durable.
extension Pool {
    /// Makes everything stored into the file so far durable: one flush of
    /// the whole file mapping (one `msync`, which writes back only the dirty
    /// pages), then a fence. `site` names the sync for a test that leaves
    /// it out (flush and fence).
    func syncAll(at site: PersistenceSite) {
        let ticket = locks.beginSync()
        if !Self.drops(site) { persistence.flush(file.base, file.count); persistence.drain() }
        locks.endSync(ticket)
    }

    /// Before a record in `lane` is overwritten or killed: its apply
    /// durable, with a sync if it may not be yet. Under the pair's lock.
    @inline(__always)
    func settle(_ lane: Int) {
        if !locks.applyIsDurable(lane) { syncAll(at: .settleSync) }
    }

    /// The slot of `pair` that a new record overwrites: the older one (the
    /// sequence numbers of a pair's slots grow with every record).
    @inline(__always)
    func olderSlot(_ pair: Int) -> Int {
        locks.laneSequence(pair) <= locks.laneSequence(pair + 1) ? pair : pair + 1
    }

    /// Whether `slot` still holds the record that last touched `logical`
    /// (its sequence word on the media is that record's). Under the pair's lock.
    @inline(__always)
    func holdsLastRecord(_ slot: Int, of logical: Int) -> Bool {
        guard locks.lastLane(logical) == slot else { return false }
        let word = pmem_load64(file.base + layout.laneOffset(slot) + CommitRecord.sequenceOffset)
        return UInt64(littleEndian: word) == locks.lastSequence(logical)
    }

    /// The pair for a commit touching chunk `logical`: the pair holding the
    /// records that may still be valid for it (all of them lie in one pair),
    /// else any free pair. Holds the chunk's lock; returns the pair locked.
    @inline(__always)
    func pair(forCommitTouching logical: Int) -> Int {
        let slot = locks.lastLane(logical)
        if slot >= 0 {
            locks.lockLane(slot & ~1)
            if holdsLastRecord(slot, of: logical) { return slot & ~1 }
            // Overwritten, durably: no record of this chunk is valid any more.
            locks.setLastLane(logical, -1)
            locks.releaseLane(slot & ~1)
        }
        return locks.acquireLane()
    }

    /// Kills the records that may be valid for chunk `logical`, before a
    /// write that leaves no record: their applies durable first; then, if
    /// the chunk's last record is the newer of its pair, the older slot
    /// (which may hold the chunk's previous record) dies in a sync of its
    /// own, and only then the last one. Killed together, the older could
    /// outlive the newer in a crash and be replayed alone, over bytes the
    /// newer one wrote. Returns the pair, still held, or nil when no record
    /// was live.
    func killLiveRecordsOfPair(touching logical: Int) -> Int? {
        let slot = locks.lastLane(logical)
        guard slot >= 0 else { return nil }
        let pair = slot & ~1
        locks.lockLane(pair)
        let live = holdsLastRecord(slot, of: logical)
        locks.setLastLane(logical, -1)
        guard live else {
            locks.releaseLane(pair)
            return nil
        }
        let other = slot ^ 1
        let otherIsOlder = locks.laneSequence(other) < locks.laneSequence(slot)
        if otherIsOlder {
            settle(other)
            killWord(other)
            // Also makes the last record's apply durable (made before).
            syncAll(at: .noRecordOlderSlotKillSync)
        }
        settle(slot)
        killWord(slot)
        syncAll(at: .noRecordLastSlotKillSync)
        return pair
    }

    /// Sets the sequence word of `lane`'s record to 0 (one atomic store),
    /// without a flush: the caller's next sync makes it durable.
    @inline(__always)
    func killWord(_ lane: Int) {
        pmem_store64(file.base + layout.laneOffset(lane) + CommitRecord.sequenceOffset, 0)
    }

    /// The kills a commit touching `touched` makes on the msync path, in two
    /// waves: for each chunk whose last record is the newer of its pair, the
    /// pair's older slot (perhaps the chunk's previous record) in the first,
    /// the last record itself in the second; a last record that is the older
    /// of its pair in the second alone. `overwritten` (the slot the commit's
    /// record goes into) is never in the second wave: writing the record
    /// kills it there.
    func killWaves(touching touched: [Int], overwritten: Int) -> (first: [Int], second: [Int]) {
        var first: [Int] = [], second: [Int] = []
        for l in touched {
            let s = locks.lastLane(l)
            guard s >= 0, holdsLastRecord(s, of: l) else { continue }
            if locks.laneSequence(s ^ 1) < locks.laneSequence(s), !first.contains(s ^ 1) { first.append(s ^ 1) }
            if s != overwritten, !second.contains(s) { second.append(s) }
        }
        return (first, second)
    }

    /// ``logOne(_:at:logical:)`` where a flush is an `msync`: the record into
    /// the older slot of the chunk's pair (its apply made durable first, if a
    /// sync has not already), one sync (the commit point, which also makes
    /// the applies of earlier commits durable), then the apply with plain
    /// stores, durable at the next sync. The newer slot's record stays valid:
    /// if this record is torn, it is the one a crash replays.
    func logOneDeferred(_ bytes: UnsafeRawBufferPointer, at offset: Int, logical: Int) throws(PMemError) {
        guard locks.lock(chunk: logical) else { throw needsRecoveryError }
        defer { locks.unlock(chunk: logical) }
        let pair = pair(forCommitTouching: logical)
        defer { locks.releaseLane(pair) }
        let slot = olderSlot(pair)
        settle(slot)
        let sequence = max(locks.laneSequence(pair), locks.laneSequence(pair + 1), locks.lastSequence(logical)) &+ 1

        let record = file.base + layout.laneOffset(slot)
        let body = record + CommitRecord.headerSize
        CommitRecord.writeEntryHead(body, kind: 1, a: UInt64(offset), b: UInt64(bytes.count))
        let padded = PoolLayout.alignUp(bytes.count, 8)
        if padded > bytes.count {
            (body + CommitRecord.entryHeadSize + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - bytes.count)
        }
        let length = CommitRecord.entryHeadSize + padded
        // Before the commit point: a failure leaves this slot torn (its
        // record was settled) and changes nothing else.
        try storeIntoFile(body + CommitRecord.entryHeadSize, bytes.baseAddress!, bytes.count)
        try Self.simulateCrash(at: .afterLogBody)
        CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: length)
        syncAll(at: .deferredLogCommitSync)
        noteRecord(lane: slot, sequence: sequence, logical: logical)
        locks.setLaneSequence(slot, sequence)
        var finished = false
        defer { if !finished { locks.poison() } }
        try Self.simulateCrash(at: .afterCommitRecord)

        // After it: a failure poisons the pool (the defer); recovery applies.
        try storeIntoFile(fileAddress(ofLogical: offset), bytes.baseAddress!, bytes.count)
        locks.setPendingTicket(slot, locks.nextSyncTicket())
        locks.add(lane: pair, commits: 1, bytesRequested: bytes.count, logBytes: CommitRecord.headerSize + length,
                  appliedBytes: bytes.count, fences: 1)
        try Self.simulateCrash(at: .afterApply)
        finished = true
    }

    /// ``remapOne(_:at:logical:)`` with lanes in pairs: the spare chunk's
    /// contents and every deferred apply durable in one sync; the record into
    /// the older slot, and the newer slot's record killed if it is the
    /// chunk's last (a data record replayed through the new page-table entry
    /// would write over this write), in a second; the page-table entry in a
    /// third. Three syncs, as before; the apply is not deferred.
    func remapOnePaired(_ bytes: UnsafeRawBufferPointer, at offset: Int, logical: Int) throws(PMemError) {
        guard locks.lock(chunk: logical) else { throw needsRecoveryError }
        defer { locks.unlock(chunk: logical) }
        var spare = 0
        let took = withUnsafeMutablePointer(to: &spare) { locks.takeSpares(1, into: UnsafeMutableBufferPointer(start: $0, count: 1)) }
        guard took else { throw needsRecoveryError }
        let pair = pair(forCommitTouching: logical)
        defer { locks.releaseLane(pair) }
        var committed = false, finished = false
        defer {
            if !committed { withUnsafePointer(to: spare) { locks.free(UnsafeBufferPointer(start: $0, count: 1)) } }
            else if !finished { locks.poison() }
        }
        let slot = olderSlot(pair), other = slot ^ 1
        // The chunk's last record in the newer slot: a data record that a
        // replay would write through the new page-table entry, over this
        // write. It dies in the commit's sync, after the older slot (perhaps
        // the chunk's previous record) died in a sync of its own.
        let killsOther = holdsLastRecord(other, of: logical)
        let sequence = max(locks.laneSequence(pair), locks.laneSequence(pair + 1), locks.lastSequence(logical)) &+ 1

        let chunk = layout.chunkSize
        let start = offset - logical * chunk, end = start + bytes.count
        let destination = file.base + layout.chunkOffset(spare)
        let current = file.base + layout.chunkOffset(pageTable[logical])
        if start > 0 { try storeIntoFile(destination, current, start) }
        if end < chunk { try storeIntoFile(destination + end, current + end, chunk - end) }
        try storeIntoFile(destination + start, bytes.baseAddress!, bytes.count)
        // The chunk's contents before a record can name it; and the applies
        // of both slots' records before one is overwritten and one killed.
        syncAll(at: .pairedRemapDataSync)

        if killsOther {
            killWord(slot)
            syncAll(at: .pairedRemapKillSync)
            killWord(other)
        }
        let record = file.base + layout.laneOffset(slot)
        CommitRecord.writeEntryHead(record + CommitRecord.headerSize, kind: 2, a: UInt64(logical), b: UInt64(spare))
        try Self.simulateCrash(at: .afterLogBody)
        CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: CommitRecord.entryHeadSize)
        syncAll(at: .pairedRemapCommitSync)
        committed = true
        noteRecord(lane: slot, sequence: sequence, logical: logical)
        locks.setLaneSequence(slot, sequence)
        locks.setPendingTicket(slot, 0)
        try Self.simulateCrash(at: .afterCommitRecord)

        let entry = file.base + PoolLayout.pageTableEntryOffset(logical)
        pmem_store64(entry, PageTableEntry.encode(logical: logical, physical: spare).littleEndian)
        // No fence: the flush is an msync, durable when it returns, and the
        // record stays valid until a whole-file sync (docs/FORMAT.md,
        // "Deferred apply").
        flush(entry, 8, at: .pairedRemapPageTableFlush)
        try Self.simulateCrash(at: .afterApply)
        let replaced = pageTable[logical]
        pageTable[logical] = spare
        try mapChunks(logical, count: 1, physical: spare)
        finished = true
        withUnsafePointer(to: replaced) { locks.free(UnsafeBufferPointer(start: $0, count: 1)) }
        locks.add(lane: pair, commits: 1, bytesRequested: bytes.count, logBytes: CommitRecord.headerSize + CommitRecord.entryHeadSize,
                  appliedBytes: 8, remapBytes: chunk, remaps: 1, fences: 2)
    }
}
