import CPMem2
import Glibc

/// libpmem2's persistence functions for the cache-flush granularities
/// (`.cacheLine`: flush and fence; `.byte`: fence only), obtained once per
/// process.
///
/// libpmem2 hands its functions out only through a `pmem2_map`, but they
/// depend on nothing in it: they are chosen from the CPU's features and the
/// granularity. A `Mapping` does not register itself with libpmem2:
/// `pmem2_map_new` walks sysfs changing the working directory (see
/// `AvailableGranularity`), and 1.12's `pmem2_map_from_existing` allocates a
/// data mover that `pmem2_map_delete` never frees (144 bytes lost per
/// mapping, seen by LeakSanitizer). So one anonymous page per granularity is
/// registered here and kept for the life of the process: its range stays
/// mapped, so libpmem2's registry never holds a range the kernel may give to
/// another mapping.
struct CacheFlushFunctions: @unchecked Sendable {
    /// The page's `pmem2_map`, never deleted (held, so that it is not a leak).
    let registration: OpaquePointer
    /// The functions read off it.
    let functions: PersistenceFunctions

    static let cacheLine = obtain(PMEM2_GRANULARITY_CACHE_LINE)
    static let byte = obtain(PMEM2_GRANULARITY_BYTE)

    /// The functions for `granularity` (not `.page`: see `PagePersistence`).
    static func of(_ granularity: StoreGranularity) -> CacheFlushFunctions {
        granularity == .byte ? byte : cacheLine
    }

    /// The persistence functions of a mapping of `granularity`: libpmem2's
    /// for the cache-flush granularities, `PagePersistence`'s for `.page`.
    static func functions(for granularity: StoreGranularity) -> PersistenceFunctions {
        granularity == .page ? PagePersistence.functions : of(granularity).functions
    }

    /// Registers a page of anonymous memory with libpmem2 for good and reads
    /// the functions off it. Only an out-of-memory process fails here.
    private static func obtain(_ granularity: pmem2_granularity) -> CacheFlushFunctions {
        let size = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let page = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), page != MAP_FAILED else {
            fatalError("cannot map one anonymous page for libpmem2's persistence functions (errno \(errno))")
        }
        var source: OpaquePointer?, map: OpaquePointer?
        var rc = pmem2_source_from_anon(&source, size)
        if rc == 0 { rc = pmem2_map_from_existing(&map, source, page, size, granularity) }
        guard rc == 0, let map else {
            fatalError("libpmem2 refused to describe an anonymous page (\(rc)): \(String(cString: pmem2_errormsg()))")
        }
        // The map keeps its own copy of the source.
        pmem2_source_delete(&source)
        return CacheFlushFunctions(registration: map, functions: PersistenceFunctions(
            persist: pmem2_get_persist_fn(map)!, flush: pmem2_get_flush_fn(map)!, drain: pmem2_get_drain_fn(map)!,
            memmove: pmem2_get_memmove_fn(map)!, memcpy: pmem2_get_memcpy_fn(map)!, memset: pmem2_get_memset_fn(map)!))
    }
}
