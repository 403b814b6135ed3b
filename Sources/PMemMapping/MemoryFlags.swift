import PMemSystem
import CPMem2

/// How ``Mapping/copy(from:to:flags:)-(UnsafeRawBufferPointer,_,_)``, ``Mapping/move(from:to:count:flags:)``
/// and ``Mapping/set(_:in:flags:)`` write and persist: libpmem2's `PMEM2_F_MEM_*` flags.
///
/// With no flags the operation persists what it wrote before it returns.
/// Flags are hints except ``noDrain`` and ``noFlush``, which change what is
/// guaranteed on return.
public struct MemoryFlags: OptionSet, Sendable, Hashable {
    /// The bits of the option set (this library's own numbering).
    public let rawValue: UInt32
    /// Creates flags from their bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Skip the final fence: the data is flushed but durable only after the next ``Mapping/drain()``.
    public static let noDrain = MemoryFlags(rawValue: 1 << 0)
    /// Use non-temporal stores (bypass the CPU caches).
    public static let nonTemporal = MemoryFlags(rawValue: 1 << 1)
    /// Use temporal stores followed by cache flushes.
    public static let temporal = MemoryFlags(rawValue: 1 << 2)
    /// Use write-combining non-temporal stores (alias of non-temporal on x86).
    public static let writeCombining = MemoryFlags(rawValue: 1 << 3)
    /// Use write-back (temporal) stores (alias of temporal on x86).
    public static let writeBack = MemoryFlags(rawValue: 1 << 4)
    /// Do not flush at all: the data is not durable until you ``Mapping/persist(_:)`` it.
    public static let noFlush = MemoryFlags(rawValue: 1 << 5)

    package var pmem2: UInt32 {
        var f: UInt32 = 0
        if contains(.noDrain) { f |= UInt32(PMEM2_F_MEM_NODRAIN) }
        if contains(.nonTemporal) { f |= UInt32(PMEM2_F_MEM_NONTEMPORAL) }
        if contains(.temporal) { f |= UInt32(PMEM2_F_MEM_TEMPORAL) }
        if contains(.writeCombining) { f |= UInt32(PMEM2_F_MEM_WC) }
        if contains(.writeBack) { f |= UInt32(PMEM2_F_MEM_WB) }
        if contains(.noFlush) { f |= UInt32(PMEM2_F_MEM_NOFLUSH) }
        return f
    }
}
