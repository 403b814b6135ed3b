import PMemSystem
import Glibc

/// The store granularity a new mapping gets, decided here rather than by
/// `pmem2_map_new`: libpmem2 1.12 finds eADR by walking /sys/bus/nd/devices
/// with fts, which changes the process's working directory (fchdir) during
/// every map. Two threads mapping at once could leave the process in
/// /sys/bus/nd/devices, and any relative path another thread opened meanwhile
/// resolved there. The rules below are libpmem2's own.
enum AvailableGranularity {
    /// What a shared mapping offers: `.page` without `MAP_SYNC` (page cache:
    /// msync), `.cacheLine` with it (ADR: flush and fence), `.byte` with it
    /// on a platform whose every NVDIMM region says its CPU caches are in the
    /// persistence domain (eADR); `PMEM2_FORCE_GRANULARITY` overrides all.
    static func of(mapSync: Bool) -> StoreGranularity {
        if let forced { return forced }
        if !mapSync { return .page }
        return cpuCacheIsPersistent ? .byte : .cacheLine
    }

    /// `PMEM2_FORCE_GRANULARITY` as libpmem2 reads it (case-insensitive
    /// BYTE, CACHE_LINE, CACHELINE or PAGE; anything else is ignored), read at
    /// every map as libpmem2 does, so a test may set it late.
    static var forced: StoreGranularity? {
        guard let value = getenv("PMEM2_FORCE_GRANULARITY") else { return nil }
        switch String(cString: value).uppercased() {
        case "BYTE": return .byte
        case "CACHE_LINE", "CACHELINE": return .cacheLine
        case "PAGE": return .page
        default: return nil
        }
    }

    /// eADR: at least one region, and every region's `persistence_domain`
    /// reads `cpu_cache`. Read once, by absolute paths (no change of
    /// directory).
    static let cpuCacheIsPersistent: Bool = {
        let bus = "/sys/bus/nd/devices"
        guard let dir = opendir(bus) else { return false }
        defer { closedir(dir) }
        var regions = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("region") else { continue }
            regions += 1
            let text = Syscalls.withoutInjectedFault { try? readWholeFile("\(bus)/\(name)/persistence_domain") }
            guard text == "cpu_cache\n" else { return false }
        }
        return regions > 0
    }()
}
