import PMemSystem
/// The persistence primitives a pool uses, gathered in one value so that a
/// test can route them to a simulated persistence domain (which copies a
/// cache line to its "media" only on flush followed by a fence) instead of
/// the hardware. Stores themselves need no routing: a simulator reads the
/// flushed lines from the working memory when `flush` is called.
package struct PersistenceCalls: Sendable {
    /// Starts writing back the cache lines of a range (no ordering).
    package var flush: @Sendable (UnsafeRawPointer, Int) -> Void
    /// Waits until every earlier flush is durable (the fence).
    package var drain: @Sendable () -> Void
    /// Copies `count` bytes and flushes them, without a fence (libpmem2's
    /// memcpy with `PMEM2_F_MEM_NODRAIN`: non-temporal stores for large copies).
    package var copyAndFlush: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void
    /// Whether a flush writes back cache lines (CPU caches, or a simulated
    /// domain of lines) rather than pages (`msync`): then two flush calls
    /// cost no more than one, and a pool may stream large log payloads.
    package var flushesLines: Bool

    /// Flush, then fence.
    package func persist(_ address: UnsafeRawPointer, _ count: Int) {
        flush(address, count)
        drain()
    }

    package init(flush: @escaping @Sendable (UnsafeRawPointer, Int) -> Void, drain: @escaping @Sendable () -> Void,
                 copyAndFlush: @escaping @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void,
                 flushesLines: Bool = true) {
        self.flush = flush
        self.drain = drain
        self.copyAndFlush = copyAndFlush
        self.flushesLines = flushesLines
    }

    /// Does `store` (the bytes of a copy, move or set), then flushes and
    /// fences as `flags` ask, like libpmem2's memcpy/memmove/memset.
    package func write(_ address: UnsafeMutableRawPointer, _ count: Int, _ flags: MemoryFlags, _ store: () -> Void) {
        store()
        if !flags.contains(.noFlush) { flush(address, count) }
        if !flags.contains(.noDrain) && !flags.contains(.noFlush) { drain() }
    }

    /// Calls that only copy: for recovery on an image in memory, where
    /// nothing needs to reach media.
    package static let none = PersistenceCalls(flush: { _, _ in }, drain: {},
                                               copyAndFlush: { $0.copyMemory(from: $1, byteCount: $2) })

    /// The calls for `mapping`: those it is routed to (crash testing), else
    /// the hardware's, as libpmem2 chose them.
    package static func of(_ mapping: borrowing Mapping) -> PersistenceCalls {
        if let routed = mapping.routed { return routed }
        return hardware(flush: mapping.flushFn, drain: mapping.drainFn, memcpy: mapping.memcpyFn,
                        flushesLines: mapping.storeGranularity != .page)
    }

    /// libpmem2's own functions for a mapping, as closures.
    package static func hardware(flush: @escaping @convention(c) (UnsafeRawPointer?, Int) -> Void,
                         drain: @escaping @convention(c) () -> Void,
                         memcpy: @escaping @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, UInt32) -> UnsafeMutableRawPointer?,
                         flushesLines: Bool)
        -> PersistenceCalls
    {
        let flags = HardwareCalls.copyNoDrainFlags(flushesLines: flushesLines)
        return PersistenceCalls(flush: { flush($0, $1) }, drain: { drain() },
                                copyAndFlush: { _ = memcpy($0, $1, $2, flags) }, flushesLines: flushesLines)
    }

    /// libpmem2's own functions for `mapping` when nothing is routed or
    /// interposed: the pool's hot paths call these C function pointers
    /// directly (no closure contexts to retain and release, which would make
    /// every thread write the same reference counts).
    package static func direct(_ mapping: borrowing Mapping) -> HardwareCalls? {
        mapping.routed == nil
            ? HardwareCalls(flush: mapping.flushFn, drain: mapping.drainFn, memcpy: mapping.memcpyFn,
                            flushesLines: mapping.storeGranularity != .page)
            : nil
    }

    /// A wrapper for a mapping's hardware calls, given to it when it is
    /// made (`Pool.open(at:interposedBy:)`): it sees every flush, fence and
    /// copy and forwards them to the calls it is given (PMemCrashTesting's
    /// `PersistenceCounter`). A mapping made without one calls libpmem2
    /// directly, so the hook costs nothing when unused.
    package typealias Interposer = @Sendable (PersistenceCalls) -> PersistenceCalls
}

/// libpmem2's flush, drain and memcpy for one mapping, as C function pointers.
package struct HardwareCalls: @unchecked Sendable {
    package let flush: @convention(c) (UnsafeRawPointer?, Int) -> Void
    package let drain: @convention(c) () -> Void
    package let memcpy: @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, UInt32) -> UnsafeMutableRawPointer?
    /// The flags of a copy that is flushed and fenced later: non-temporal
    /// where flushes are cache-line ones, also below libpmem2's own threshold
    /// (256 B), because a line the copy fills whole then needs no read for
    /// ownership before its flush. A C probe on /dev/shm (forced cache line):
    /// a 64 B record + 64 B apply, each fenced, 335 ns with a temporal apply,
    /// 270 ns with a non-temporal one; 256 B and 512 B unchanged.
    package let copyNoDrain: UInt32

    package static func copyNoDrainFlags(flushesLines: Bool) -> UInt32 {
        (flushesLines ? MemoryFlags([.noDrain, .nonTemporal]) : .noDrain).pmem2
    }

    package init(flush: @escaping @convention(c) (UnsafeRawPointer?, Int) -> Void,
                 drain: @escaping @convention(c) () -> Void,
                 memcpy: @escaping @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, UInt32) -> UnsafeMutableRawPointer?,
                 flushesLines: Bool) {
        self.flush = flush
        self.drain = drain
        self.memcpy = memcpy
        copyNoDrain = Self.copyNoDrainFlags(flushesLines: flushesLines)
    }
}
