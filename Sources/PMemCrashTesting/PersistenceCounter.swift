public import PMem
import Synchronization
public import SystemPackage

/// Counts the flushes and fences a pool really issues, from outside the
/// pool's own tallies (``/PMemPool/PoolStatistics``): pools opened through a
/// counter have their persistence routed through it, and every call is
/// counted and then forwarded to libpmem2's own function, so the pool still
/// persists exactly as it would without the counter.
///
/// What is counted, per call the pool makes to libpmem2:
/// - ``PersistenceCounts/fences``: drains (`pmem2_drain_fn`), the fences
///   that order earlier flushes. On the msync path (page granularity, any
///   file off DAX) libpmem2's drain does nothing.
/// - ``PersistenceCounts/flushCalls``: flushes (`pmem2_flush_fn`) and copies
///   that flush (`pmem2_memcpy_fn` with `PMEM2_F_MEM_NODRAIN`). On the msync
///   path each of these is one `msync`, so this is the number of `msync`
///   calls; on the cache-flush path, the number of flush loops.
/// - ``PersistenceCounts/linesFlushed``: the 64-byte cache lines those calls
///   cover; times 64, the bytes the pool sent to the media (an `msync`
///   writes back whole pages, which is not counted here).
///
/// ```swift
/// let counter = PersistenceCounter()
/// let pool = try counter.create(at: "/dev/shm/counted", capacity: 8 << 20)
/// let before = counter.counts
/// try pool.write([UInt8](repeating: 1, count: 64), at: 4096)
/// let one = counter.counts - before   // fences, flushCalls, linesFlushed
/// ```
///
/// The counters are atomic: pools shared between threads are counted
/// correctly. Counting costs a few atomic increments per call; measure time
/// on pools opened without a counter.
public final class PersistenceCounter: Sendable {
    private let fenceCount = Atomic<Int>(0)
    private let flushCount = Atomic<Int>(0)
    private let lineCount = Atomic<Int>(0)

    /// Creates a counter with every count at zero.
    public init() {}

    /// Everything counted so far, in every pool and mapping opened through
    /// this counter.
    public var counts: PersistenceCounts {
        PersistenceCounts(fences: fenceCount.load(ordering: .relaxed), flushCalls: flushCount.load(ordering: .relaxed),
                          linesFlushed: lineCount.load(ordering: .relaxed))
    }

    /// The fences counted so far (see ``PersistenceCounts/fences``).
    public var fences: Int { fenceCount.load(ordering: .relaxed) }
    /// The flush calls counted so far (see ``PersistenceCounts/flushCalls``).
    public var flushCalls: Int { flushCount.load(ordering: .relaxed) }
    /// The cache lines flushed so far (see ``PersistenceCounts/linesFlushed``).
    public var linesFlushed: Int { lineCount.load(ordering: .relaxed) }

    /// Sets every count back to zero.
    public func reset() {
        fenceCount.store(0, ordering: .relaxed)
        flushCount.store(0, ordering: .relaxed)
        lineCount.store(0, ordering: .relaxed)
    }

    /// Opens the pool at `path` (``/PMemPool/Pool/open(at:)-(FilePath)``) with its
    /// persistence counted by this counter; the open's own recovery is
    /// counted too. `acceptingUncleanShutdown` as for
    /// ``/PMemPool/Pool/open(at:acceptingUncleanShutdown:)``.
    public func open(at path: FilePath, acceptingUncleanShutdown: Bool = false) throws(PMemError) -> Pool {
        try Pool.open(at: path, interposedBy: { [self] real in wrap(real) }, acceptingUncleanShutdown: acceptingUncleanShutdown)
    }

    /// Creates a pool (`Pool.create`, with its defaults), closes it and
    /// opens it again with its persistence counted by this counter: the
    /// creation is not counted, the reopening is.
    public func create(at path: FilePath, capacity: Int, chunkSize: Int = 2 << 20, spareCapacity: Int? = nil,
                       lanes: Int = 4) throws(PMemError) -> Pool {
        _ = try Pool.create(at: path, capacity: capacity, chunkSize: chunkSize, spareCapacity: spareCapacity, lanes: lanes)
        return try open(at: path)
    }

    /// `real`, with each call counted before it is forwarded. Non-temporal
    /// stores count their lines, not a flush call (they need none).
    private func wrap(_ real: PersistenceCalls) -> PersistenceCalls {
        var counted = real
        counted.flush = { [self] address, count in
            note(flushOf: address, count)
            real.flush(address, count)
        }
        counted.drain = { [self] in
            fenceCount.add(1, ordering: .relaxed)
            real.drain()
        }
        counted.copyAndFlush = { [self] destination, source, count in
            note(flushOf: destination, count)
            real.copyAndFlush(destination, source, count)
        }
        counted.copy = { [self] destination, source, count, flags in
            note(destination, count, flags)
            real.copy(destination, source, count, flags)
        }
        counted.move = { [self] destination, source, count, flags in
            note(destination, count, flags)
            real.move(destination, source, count, flags)
        }
        counted.set = { [self] destination, byte, count, flags in
            note(destination, count, flags)
            real.set(destination, byte, count, flags)
        }
        counted.storeWordNonTemporally = { [self] word, value in
            note(linesOf: word, 8)
            real.storeWordNonTemporally(word, value)
        }
        counted.copyChecksummed = { [self] destination, head, data, cached in
            let sums = real.copyChecksummed(destination, head, data, cached)
            let end = (data.count + 7) & ~7
            if sums != nil, end > cached { note(linesOf: destination + cached, end - cached) }
            return sums
        }
        return counted
    }

    /// A libpmem2 copy, move or set with `flags`: a flush unless `.noFlush`,
    /// then a fence unless `.noDrain`.
    private func note(_ address: UnsafeRawPointer, _ count: Int, _ flags: MemoryFlags) {
        guard !flags.contains(.noFlush) else { return }
        note(flushOf: address, count)
        if !flags.contains(.noDrain) { fenceCount.add(1, ordering: .relaxed) }
    }

    private func note(flushOf address: UnsafeRawPointer, _ count: Int) {
        flushCount.add(1, ordering: .relaxed)
        note(linesOf: address, count)
    }

    private func note(linesOf address: UnsafeRawPointer, _ count: Int) {
        guard count > 0 else { return }
        let first = UInt(bitPattern: address) / 64
        let last = (UInt(bitPattern: address) + UInt(count) - 1) / 64
        lineCount.add(Int(last - first + 1), ordering: .relaxed)
    }
}

/// A snapshot of a ``PersistenceCounter``'s counts; subtract two snapshots
/// for what happened in between.
public struct PersistenceCounts: Sendable, Hashable, CustomStringConvertible {
    /// Fences: libpmem2 drains. A no-op on the msync path.
    public var fences: Int
    /// Flushes and flushing copies: one `msync` each on the msync path.
    public var flushCalls: Int
    /// 64-byte cache lines covered by the flushes and flushing copies.
    public var linesFlushed: Int

    /// Creates a snapshot from its counts.
    public init(fences: Int = 0, flushCalls: Int = 0, linesFlushed: Int = 0) {
        self.fences = fences
        self.flushCalls = flushCalls
        self.linesFlushed = linesFlushed
    }

    /// The bytes flushed: ``linesFlushed`` × 64.
    public var bytesFlushed: Int { linesFlushed * 64 }

    /// The counts of `later` minus those of `earlier`.
    public static func - (later: PersistenceCounts, earlier: PersistenceCounts) -> PersistenceCounts {
        PersistenceCounts(fences: later.fences - earlier.fences, flushCalls: later.flushCalls - earlier.flushCalls,
                          linesFlushed: later.linesFlushed - earlier.linesFlushed)
    }

    /// "2 fences, 2 flush calls, 6 lines".
    public var description: String { "\(fences) fences, \(flushCalls) flush calls, \(linesFlushed) lines" }
}
