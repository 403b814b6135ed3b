import PMemSystem
package import CPMem2

/// The smallest unit in which stores to a mapping become durable, and hence
/// which flush a writer must issue (libpmem2's "store granularity").
public enum StoreGranularity: Int, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Stores are durable once visible (eADR: CPU caches are in the persistence domain).
    case byte = 0
    /// Stores are durable after a cache-line flush and a fence (DAX with `MAP_SYNC`, ADR).
    case cacheLine = 1
    /// Stores are durable only after `msync` of the page (page cache, no DAX).
    case page = 2

    /// Finer granularities compare smaller: `.byte < .cacheLine < .page`.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// `"byte"`, `"cache line"` or `"page"`.
    public var description: String {
        switch self {
        case .byte: "byte"
        case .cacheLine: "cache line"
        case .page: "page"
        }
    }

    package init(_ g: pmem2_granularity) {
        switch g {
        case PMEM2_GRANULARITY_BYTE: self = .byte
        case PMEM2_GRANULARITY_CACHE_LINE: self = .cacheLine
        default: self = .page
        }
    }

    package var pmem2: pmem2_granularity {
        switch self {
        case .byte: PMEM2_GRANULARITY_BYTE
        case .cacheLine: PMEM2_GRANULARITY_CACHE_LINE
        case .page: PMEM2_GRANULARITY_PAGE
        }
    }
}
