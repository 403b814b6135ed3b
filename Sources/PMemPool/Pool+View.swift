import PMemSystem
import PMemMapping
import PMemSealing
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
    func mapChunks(_ logical: Int, count: Int, physical: Int) throws(PMemError) {
        let address = view + logical * layout.chunkSize
        if case .failure(let errno) = Syscalls.mapFixed(address, count * layout.chunkSize, descriptor,
                                                        offset: layout.chunkOffset(physical), sync: viewUsesMapSync) {
            throw PMemError.system(errno, "mapping chunks into the pool's view (mmap MAP_FIXED)", path: path)
        }
        // As the file mapping (see `Mapping`): faults through the view bring
        // in single pages, not large folios a later commit would dirty whole.
        if file.storeGranularity == .page { Syscalls.adviseNoReadAhead(address, count * layout.chunkSize) }
    }
}
