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
}
