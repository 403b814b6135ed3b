import PMemSystem
import Glibc
import Synchronization

/// Homing (docs/FORMAT.md, "Chunk placement"): a remap with no new bytes
/// that takes an away chunk back to its home, so that the view needs fewer
/// mappings and the spare region has room. It is an ordinary commit of the
/// skeleton, so its crash cases are a remap's.
extension Pool {
    /// Reserves places for `chunks` (locked by the caller) into `out`. When
    /// the spare region or the mapping budget has no room, homes other
    /// chunks first, or waits for commits in flight; throws
    /// ``/PMemSystem/PMemError/Code/outOfMappings`` (nothing changed) when
    /// neither helps within two seconds.
    ///
    /// Then holds two of the process's mappings per chunk in `held`
    /// (MappingReserve.swift), so that the view's remaps after the commit
    /// point cannot be refused; throws ``/PMemSystem/PMemError/Code/outOfMappings``,
    /// with nothing reserved, when the process has none left.
    ///
    /// `touched(0..<touchedCount)` are the update's chunks, ascending, whose
    /// stripes it holds: another chunk of one of those stripes is homed
    /// without its lock (the update holds it, so no other commit is on the
    /// chunk); the update's own chunks are not homed.
    func reserveChunks(_ chunks: UnsafeBufferPointer<Int>, into out: UnsafeMutableBufferPointer<Int>,
                       holding held: UnsafeMutableBufferPointer<Int>,
                       touchedCount: Int, touched: (Int) -> Int) throws(PMemError) {
        var deadline: timespec?
        var anyFree = false
        // The stripes the update holds, made when it first homes.
        var heldStripes: [UInt64] = []
        while true {
            switch placement.reserve(chunks, current: { pageTable[$0] }, into: out, anyFree: anyFree, poisoned: locks.poisonWord) {
            case .reserved:
                guard mappingReserve.hold(chunks.count, into: held) else {
                    placement.cancel(chunks, current: { pageTable[$0] }, reserved: UnsafeBufferPointer(out))
                    throw PMemError(.outOfMappings, "remapping \(chunks.count) chunk(s) needs up to \(2 * chunks.count) more mappings, and the process has reached vm.max_map_count (\(ViewMappingBudget.processLimit * 2)); the views of its pools claim \(placement.budget.inUse) of them. Nothing was changed. Raise vm.max_map_count (sysctl) or unmap memory the process no longer needs", path: path)
                }
                return
            case .poisoned: throw needsRecoveryError
            case .needsRoom: break
            }
            // Out of the lock order, so never waiting: a chunk whose stripe
            // another commit holds is skipped.
            if heldStripes.isEmpty {
                heldStripes = [UInt64](repeating: 0, count: (locks.stripeCount + 63) / 64)
                for i in 0..<touchedCount {
                    let s = locks.stripe(of: touched(i))
                    heldStripes[s >> 6] |= 1 << UInt64(s & 63)
                }
            }
            let found = heldStripes.withUnsafeBufferPointer { stripes in
                nextToHome { l in
                    let s = locks.stripe(of: l)
                    guard stripes[s >> 6] & (1 << UInt64(s & 63)) != 0 else { return nil }
                    return Self.contains(l, count: touchedCount, touched)
                }
            }
            if let (l, lockedHere) = found {
                defer { if lockedHere { locks.unlock(chunk: l) } }
                try home(l)
                continue
            }
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let end = deadline ?? timespec(tv_sec: now.tv_sec + 2, tv_nsec: now.tv_nsec)
            deadline = end
            guard now.tv_sec < end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec) else {
                throw outOfMappings(needing: chunks.count)
            }
            // A commit in flight will free chunks. With none, no chunk can be
            // homed now (this commit holds them, or in-place writes do for a
            // moment): take any free chunk, if only the spare region was full.
            if !placement.waitForChange(until: end, poisoned: locks.poisonWord) {
                // Not spinning: this commit holds its chunks' locks.
                if !anyFree { anyFree = true } else { usleep(1000) }
            }
        }
    }

    func cancelReservation(_ chunks: UnsafeBufferPointer<Int>, _ reserved: UnsafeBufferPointer<Int>, held: UnsafeBufferPointer<Int>) {
        for slot in held { mappingReserve.release(slot) }
        placement.cancel(chunks, current: { pageTable[$0] }, reserved: reserved)
    }

    /// Maps logical chunk `logical` to physical `physical` in the view,
    /// giving back the two mappings `slot` held for it just before (none
    /// needed while an open homes chunks before mapping the view).
    func remapViewChunk(_ logical: Int, physical: Int, heldSlot slot: Int) throws(PMemError) {
        guard viewIsMapped else { return mappingReserve.release(slot) }
        try mappingReserve.release(slot) { () throws(PMemError) in try mapChunks(logical, count: 1, physical: physical) }
    }

    /// An away chunk to home, with its stripe locked: by trylock (out of the
    /// lock order; `lockedHere`), or already by the caller, for whom
    /// `heldByCaller(l)` says whether `l`'s stripe is its own (nil: not) and
    /// whether `l` is one of its chunks (true: not to be homed). Nil when
    /// there is none to take now. Never a chunk stored on a chunk with bad
    /// blocks: reading it could raise SIGBUS (docs/FORMAT.md, "Media errors
    /// and unsafe shutdowns").
    private func nextToHome(heldByCaller: (Int) -> Bool? = { _ in nil }) -> (chunk: Int, lockedHere: Bool)? {
        var lockedHere = false
        let chunk = placement.nextToHome { l, inAnotherHome in
            if let own = heldByCaller(l) {
                guard !own else { return false }
                lockedHere = false
            } else {
                guard locks.tryLock(chunk: l) else { return false }
                lockedHere = true
            }
            // Under its stripe's lock, the chunk's page-table entry is settled.
            if placement.isUnusable(pageTable[l]) || (inAnotherHome && pageTable[l] >= layout.logicalChunks) {
                if lockedHere { locks.unlock(chunk: l) }
                return false
            }
            return true
        }
        return chunk.map { ($0, lockedHere) }
    }

    /// Whether `l` is among the ascending `touched(0..<count)`.
    private static func contains(_ l: Int, count: Int, _ touched: (Int) -> Int) -> Bool {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if touched(mid) < l { low = mid + 1 } else { high = mid }
        }
        return low < count && touched(low) == l
    }

    /// Homes away chunk `logical`, whose lock the caller holds: into its
    /// home if that is free, else (a chunk sitting in another's home, whose
    /// place that frees) into the spare region.
    func home(_ logical: Int) throws(PMemError) {
        let offset = logical * layout.chunkSize
        var homing = RemappedWrite(UnsafeRawBufferPointer(start: nil, count: 0), at: offset, logical: logical)
        homingsRunning.add(1, ordering: .relaxed)
        defer { homingsRunning.subtract(1, ordering: .relaxed) }
        try performLocked(&homing)
        placement.noteHoming()
    }

    /// At open, before the view is mapped: homes chunks until the view's
    /// claim fits the budget, or says what is missing.
    func homeUntilClaimFits() throws(PMemError) {
        while !placement.claimAtOpen() {
            guard let (l, _) = nextToHome() else { throw outOfMappings(needing: 0) }
            defer { locks.unlock(chunk: l) }
            try home(l)
        }
    }

    private func outOfMappings(needing chunks: Int) -> PMemError {
        let budget = placement.budget
        let what = chunks > 0 ? "remapping \(chunks) chunk(s) could need \(1 + 2 * chunks) more mappings for the pool's view" :
            "the pool's view needs up to \(1 + min(layout.logicalChunks, 1 + 2 * placement.awayCount)) mappings"
        return PMemError(.outOfMappings, "\(what), and the views of this process's pools already claim \(budget.inUse) of their budget of \(budget.limit) (half of vm.max_map_count); no chunk could be homed to make room. Nothing was changed. Raise vm.max_map_count (sysctl), close other pools, or use larger chunks",
                         path: path)
    }
}
