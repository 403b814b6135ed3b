import PMemSystem
import PMemMapping
import CPMemAtomics

/// Which lane a commit takes, and which records it must kill first
/// (docs/FORMAT.md, "Lanes" and invariant I2), on cache-line flushes; with
/// lanes in pairs, Pool+DeferredApply.swift.
extension Pool {
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

    /// Notes that `lane`'s record with `sequence` touches `logical`.
    @inline(__always)
    func noteRecord(lane: Int, sequence: UInt64, logical: Int) {
        locks.setLastSequence(logical, sequence)
        locks.setLastLane(logical, lane)
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
}
