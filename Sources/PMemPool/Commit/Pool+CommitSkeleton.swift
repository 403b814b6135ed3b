import PMemSystem

/// The commit's skeleton: the numbered steps of docs/FORMAT.md, "Update
/// protocol", once, for every kind of update and both persistence modes.
/// A change to the protocol's order is made here; a change to what a step
/// writes, in the update's kind (LoggedWrite.swift, RemappedWrite.swift,
/// PlannedUpdate.swift).
extension Pool {
    @inline(__always)
    func perform<U: CommitUpdate>(_ update: inout U) throws(PMemError) {
        // Before the steps: the chunks' stripes, ascending; spares; lanes.
        let count = update.touchedCount
        guard locks.lock(count: count, { update.touched($0) }) else { throw needsRecoveryError }
        defer { locks.unlock(count: count) { update.touched($0) } }
        try performLocked(&update)
    }

    /// The steps, with the update's chunks' stripes locked by the caller.
    @inline(__always)
    func performLocked<U: CommitUpdate>(_ update: inout U) throws(PMemError) {
        // Places for remapped chunks (homing others first if need be).
        try update.reserveChunks(in: self)
        // Lanes: that of a record still valid for these chunks, which the
        // new record overwrites or kills (invariant I2), else a free one.
        let (unit, slot) = update.takeLanes(in: self)
        defer {
            update.releaseKilledLanes(to: locks)
            locks.releaseLane(unit)
        }
        var committed = false, finished = false
        defer {
            if !committed { update.cancelReservation(in: self) } // never named anywhere
            // Committed but not finished: only recovery may finish it, so
            // nothing else may write until the pool is reopened.
            else if !finished { locks.poison() }
        }
        // 1. Kill the other records still valid for these chunks.
        update.killRecords(in: self, slot: slot)
        // 2. The new contents of remapped chunks, durable.
        let remapBytes = try update.stage(in: self, slot: slot)
        // 3–4. The record, durable: the commit point.
        let sequence = nextSequence(slot: slot, touching: update)
        let logBytes = try update.writeRecord(in: self, slot: slot, sequence: sequence)
        committed = true
        // Bookkeeping: the record is the last of its chunks; the records
        // it killed are durably dead.
        update.releaseKilledLanes(to: locks)
        for i in 0..<update.touchedCount { noteRecord(lane: slot, sequence: sequence, logical: update.touched(i)) }
        locks.setLaneSequence(slot, sequence)
        if defersApply { locks.setPendingTicket(slot, 0) } // until apply says otherwise
        try Self.simulateCrash(at: .afterCommitRecord)
        // 5–6. Apply, durable (or, deferred, at the next sync).
        let applied = try update.apply(in: self, slot: slot)
        try Self.simulateCrash(at: .afterApply)
        // 7. The view; the replaced chunks become free.
        try update.remapView(of: self)
        finished = true
        locks.add(lane: unit, commits: update.isHoming ? 0 : 1, bytesRequested: update.requestedBytes, logBytes: logBytes, appliedBytes: applied,
                  remapBytes: remapBytes, remaps: update.remapCount, fences: update.fences(defersApply: defersApply))
    }

    /// The lanes of an update of one chunk: the lane (pair) of the chunk's
    /// record if it is still valid, else this thread's own. With lanes in
    /// pairs the record goes into the older slot of its pair.
    @inline(__always)
    func takeLane(forOneChunk logical: Int) -> (unit: Int, slot: Int) {
        if defersApply {
            let pair = pair(forCommitTouching: logical)
            return (pair, olderSlot(pair))
        }
        let lane = lane(forCommitTouching: logical)
        return (lane, lane)
    }

    /// Step 3's sequence number: above every record of the slot's lane (both
    /// slots of a pair) and every last record of the touched chunks.
    @inline(__always)
    func nextSequence<U: CommitUpdate>(slot: Int, touching update: U) -> UInt64 {
        var sequence = max(locks.laneSequence(slot), defersApply ? locks.laneSequence(slot ^ 1) : 0)
        for i in 0..<update.touchedCount { sequence = max(sequence, locks.lastSequence(update.touched(i))) }
        return sequence &+ 1
    }
}
