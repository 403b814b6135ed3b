import PMemSystem
import PMemMapping

/// Large copies on the msync path go into the file with pwrite(2), not with
/// stores through the mapping.
///
/// Off DAX every `msync` write-protects the pages it writes back, so the
/// next store to each page takes a write fault (and the file system's
/// `page_mkwrite`) again: a 1 MiB logged write took 512 of them per commit.
/// pwrite copies into the same page-cache pages without a fault; the
/// mapping sees the bytes at once (one page cache), and the commit's sync
/// writes them back like any other dirty page. Measured on a loop xfs
/// (kernel 6.18), 1 MiB stored and synced: 4.0–5.7 ms through the mapping,
/// 1.6–1.7 ms by pwrite.
///
/// One page per call: a pwrite larger than a page lets xfs cache the range
/// in a large folio, and a later small store into any of its pages would
/// dirty (and write back) all of it (docs/FORMAT.md, "Pages, not folios").
/// The calls cost no more than one large one (measured in the same run).
extension Pool {
    /// From this many bytes on, ``storeIntoFile(_:_:_:)`` uses pwrite.
    static let fileWriteMinimum = 16 << 10

    /// Copies `count` bytes from `source` to `destination`, an address in
    /// the whole-file mapping, as plain stores do: not flushed, visible
    /// through every mapping of the file on return. A pwrite that fails
    /// throws: a store through the mapping would meet the same failure as a
    /// SIGBUS, or at the next msync, where a caller before its commit point
    /// can still return a clean error with nothing changed.
    func storeIntoFile(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) throws(PMemError) {
        guard writesByFile, count >= Self.fileWriteMinimum else {
            destination.copyMemory(from: source, byteCount: count)
            return
        }
        let start = destination - file.base + file.fileOffset
        var done = 0
        while done < count {
            let position = start + done
            let piece = min(count - done, 4096 - (position & 4095))
            if case .failure(let errno) = Syscalls.pwriteAll(descriptor, UnsafeRawBufferPointer(start: source + done, count: piece), at: position) {
                var error = PMemError.system(errno, "writing into the pool file (pwrite)", path: path)
                error.fileOffset = position
                throw error
            }
            done += piece
        }
    }
}
