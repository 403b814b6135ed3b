import PMemSystem
import PMemMapping
import PMemSealing
import Synchronization
extension Pool {
    /// Maps every logical chunk into the view, one mapping per run of
    /// consecutive physical chunks.
    func mapView() throws(PMemError) {
        var l = 0
        while l < layout.logicalChunks {
            var run = 1
            while l + run < layout.logicalChunks && pageTable[l + run] == pageTable[l] + run { run += 1 }
            try mapChunks(l, count: run, physical: pageTable[l])
            l += run
        }
    }

    /// Maps `count` logical chunks from `logical` on to the physical chunks
    /// from `physical` on, over whatever the view had there, in one step.
    ///
    /// On failure the caller poisons the pool (or its open fails), and the
    /// range is settled (``settleFailedMap(_:count:)``).
    func mapChunks(_ logical: Int, count: Int, physical: Int) throws(PMemError) {
        let address = view + logical * layout.chunkSize
        if case .failure(let errno) = Syscalls.mapFixed(address, count * layout.chunkSize, descriptor,
                                                        offset: layout.chunkOffset(physical), sync: viewUsesMapSync) {
            settleFailedMap(logical, count: count)
            // ENOMEM: most likely the process's mappings reached vm.max_map_count
            // (the view itself stays within its claim, ViewMappingBudget.swift).
            let limit = errno == .noMemory ? "; the process may have reached vm.max_map_count (\(ViewMappingBudget.processLimit * 2) mappings), of which this process's pools claim \(placement.budget.inUse)" : ""
            throw PMemError.system(errno, "mapping chunks into the pool's view (mmap MAP_FIXED)\(limit)", path: path)
        }
        // As the file mapping (see `Mapping`): faults through the view bring
        // in single pages, not large folios a later commit would dirty whole.
        if file.storeGranularity == .page { Syscalls.adviseNoReadAhead(address, count * layout.chunkSize) }
    }

    /// After a failed `MAP_FIXED` over `count` chunks from `logical`: the
    /// kernel may have unmapped the range before the file system's mmap
    /// failed, and another thread's mmap may be given it at once. The range
    /// is taken back as a reservation if it is empty; left as it is if the
    /// pool file still maps all of it (the call failed before unmapping);
    /// else noted as a hole, which this pool never unmaps. (Mappings of the
    /// file left in the view would keep the pool's lock held after the pool
    /// has gone, so a reopen in this process could not lock it.)
    func settleFailedMap(_ logical: Int, count: Int) {
        let address = view + logical * layout.chunkSize, length = count * layout.chunkSize
        if Syscalls.reclaimAddressSpace(address, length) || Syscalls.isMapped(address, length, from: descriptor) { return }
        viewHoles.withLock { $0.append(logical..<(logical + count)) }
    }

    /// Unmaps the view, all of it but its holes.
    func unmapView() {
        let holes = viewHoles.withLock { $0 }
        guard !holes.isEmpty else { return Syscalls.unmap(view, layout.capacity) }
        var l = 0
        while l < layout.logicalChunks {
            if let hole = holes.first(where: { $0.contains(l) }) {
                l = hole.upperBound
                continue
            }
            var run = 1
            while l + run < layout.logicalChunks, !holes.contains(where: { $0.contains(l + run) }) { run += 1 }
            Syscalls.unmap(view + l * layout.chunkSize, run * layout.chunkSize)
            l += run
        }
    }
}
