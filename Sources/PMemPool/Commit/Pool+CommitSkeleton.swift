import PMemSystem

/// The commit's skeleton: the numbered steps of docs/FORMAT.md, "Update
/// protocol", once, for every kind of update and both persistence modes.
/// A change to the protocol's order is made here; a change to what a step
/// writes, in the update's kind (LoggedWrite.swift, RemappedWrite.swift,
/// PlannedUpdate.swift).
extension Pool {
    @inline(__always)
    func perform<U: CommitUpdate>(_ update: inout U) throws(PMemError) {
        // Before the steps: the chunks, ascending; spares; lanes.
        var held = 0
        defer { for i in 0..<held { locks.unlock(chunk: update.touched(i)) } }
        while held < update.touchedCount {
            guard locks.lock(chunk: update.touched(held)) else { throw needsRecoveryError }
            held += 1
        }
        guard update.takeSpares(from: locks) else { throw needsRecoveryError }
        // Lanes: that of a record still valid for these chunks, which the
        // new record overwrites or kills (invariant I2), else a free one.
        var lanes = takeLanes(for: update)
        defer {
            for j in lanes.others { locks.releaseLane(j) }
            locks.releaseLane(lanes.unit)
        }
        var committed = false, finished = false
        defer {
            if !committed { update.freeSpares(to: locks) } // never named anywhere
            // Committed but not finished: only recovery may finish it, so
            // nothing else may write until the pool is reopened.
            else if !finished { locks.poison() }
        }
        // 1. Kill the other records still valid for these chunks.
        update.killRecords(in: self, lanes: lanes)
        // 2. The new contents of remapped chunks, durable.
        let remapBytes = try update.stage(in: self, lanes: lanes)
        // 3–4. The record, durable: the commit point.
        let sequence = nextSequence(slot: lanes.slot, touching: update)
        let logBytes = try update.writeRecord(in: self, slot: lanes.slot, sequence: sequence)
        committed = true
        // Bookkeeping: the record is the last of its chunks; the records
        // it killed are durably dead.
        for j in lanes.others { locks.releaseLane(j) }
        lanes.others = []
        for i in 0..<update.touchedCount { noteRecord(lane: lanes.slot, sequence: sequence, logical: update.touched(i)) }
        locks.setLaneSequence(lanes.slot, sequence)
        if defersApply { locks.setPendingTicket(lanes.slot, 0) } // until apply says otherwise
        try Self.simulateCrash(at: .afterCommitRecord)
        // 5–6. Apply, durable (or, deferred, at the next sync).
        let applied = try update.apply(in: self, slot: lanes.slot)
        try Self.simulateCrash(at: .afterApply)
        // 7. The view; the replaced chunks become spares.
        try update.remapView(of: self)
        finished = true
        locks.add(lane: lanes.unit, commits: 1, bytesRequested: update.requestedBytes, logBytes: logBytes, appliedBytes: applied,
                  remapBytes: remapBytes, remaps: update.remapCount, fences: update.fences(defersApply: defersApply))
    }

    /// The lanes. One chunk: the lane (or pair) of the chunk's record if it is
    /// still valid, else this thread's own. Several: the lanes (pairs) of the
    /// last records of all of them, ascending; the first takes the record,
    /// the others are killed. With lanes in pairs the record goes into the
    /// older slot of its pair.
    @inline(__always)
    func takeLanes<U: CommitUpdate>(for update: U) -> CommitLanes {
        if update.touchedCount == 1 {
            let logical = update.touched(0)
            if defersApply {
                let pair = pair(forCommitTouching: logical)
                return CommitLanes(unit: pair, slot: olderSlot(pair), others: [])
            }
            let lane = lane(forCommitTouching: logical)
            return CommitLanes(unit: lane, slot: lane, others: [])
        }
        // A lane whose record no longer touches these chunks may still be
        // being overwritten by its holder: taking it waits for that holder's
        // commit point. Killing a record whose commit returned is always safe.
        var live: [Int] = []
        for i in 0..<update.touchedCount {
            let j = locks.lastLane(update.touched(i))
            let unit = defersApply && j >= 0 ? j & ~1 : j
            if unit >= 0, !live.contains(unit) { live.append(unit) }
        }
        live.sort()
        for j in live { locks.lockLane(j) }
        let unit = live.first ?? locks.acquireLane()
        return CommitLanes(unit: unit, slot: defersApply ? olderSlot(unit) : unit, others: Array(live.dropFirst()))
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
