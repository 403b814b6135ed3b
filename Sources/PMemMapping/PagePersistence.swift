import CPMem2
import Glibc

/// Persistence for page granularity (no DAX: the page cache), done here.
///
/// libpmem2 1.12's page-granularity functions look the range up in its
/// registry of mappings, where a `Mapping` is not (see `CacheFlushFunctions`;
/// on a range handed over with `pmem2_map_from_existing` their walk by the
/// reserved length, zero there, never ends). These do what libpmem2's do
/// without the lookup: an `msync(MS_SYNC)` of the pages holding the range, no
/// flush of CPU caches (the page cache is coherent), no fence. As in
/// libpmem2, a failing msync (EIO: writeback of the page failed) ends the
/// process, since these calls cannot report it and going on would lose data
/// silently.
enum PagePersistence {
    static let persist: @convention(c) (UnsafeRawPointer?, Int) -> Void = { p, count in sync(p, count) }
    static let drain: @convention(c) () -> Void = {}
    static let memmove: @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, UInt32) -> UnsafeMutableRawPointer? = {
        destination, source, count, flags in
        if let destination, let source { Glibc.memmove(destination, source, count) }
        if flags & UInt32(PMEM2_F_MEM_NOFLUSH) == 0 { sync(destination, count) }
        return destination
    }
    static let memset: @convention(c) (UnsafeMutableRawPointer?, CInt, Int, UInt32) -> UnsafeMutableRawPointer? = {
        destination, byte, count, flags in
        if let destination { Glibc.memset(destination, byte, count) }
        if flags & UInt32(PMEM2_F_MEM_NOFLUSH) == 0 { sync(destination, count) }
        return destination
    }

    /// The six, as a mapping holds them: a flush is a persist, a copy a move.
    static let functions = PersistenceFunctions(persist: persist, flush: persist, drain: drain,
                                                memmove: memmove, memcpy: memmove, memset: memset)

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// msync of the pages holding `count` bytes at `p`, retried on EINTR.
    static func sync(_ p: UnsafeRawPointer?, _ count: Int) {
        guard let p, count > 0 else { return }
        let address = Int(bitPattern: p), start = address & ~(pageSize - 1)
        while Glibc.msync(UnsafeMutableRawPointer(bitPattern: start), count + (address - start), MS_SYNC) != 0 {
            let errno = Glibc.errno
            if errno == EINTR { continue }
            fatalError("msync failed (\(String(cString: strerror(errno)))): the stores to the page cache cannot be made durable")
        }
    }
}
