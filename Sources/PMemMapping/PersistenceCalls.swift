import PMemSystem
import CPMemAtomics

/// The persistence functions of one mapping, as one table chosen once when
/// the mapping is made (as libpmem2 chooses its functions once): libpmem2's
/// (`hardware(_:granularity:)`), a simulated persistence domain's (crash
/// testing), or either wrapped by an interposer that counts them. Every
/// flush, fence, flushing copy and non-temporal store that a mapping or a
/// pool makes goes through this table, so a pool runs the same code
/// whichever table it has: nothing else asks whether a mapping is simulated.
///
/// Ordinary stores need no entry: a simulator reads what was stored from
/// memory when a flush names it. Non-temporal stores do: they bypass the
/// cache and are durable at the next fence without a flush, so the table
/// makes them, and a simulator sees exactly which bytes they wrote.
package struct PersistenceCalls: Sendable {
    /// Starts writing back the cache lines of a range (no ordering).
    package var flush: @Sendable (UnsafeRawPointer, Int) -> Void
    /// Waits until every earlier flush and non-temporal store is durable (the fence).
    package var drain: @Sendable () -> Void
    /// Copies `count` bytes and flushes them, without a fence: libpmem2's
    /// memcpy with `PMEM2_F_MEM_NODRAIN`, and `PMEM2_F_MEM_NONTEMPORAL`
    /// where flushes are cache-line ones (a line the copy fills whole then
    /// needs no read for ownership before its flush). At byte granularity
    /// there is nothing to flush, and libpmem2 chooses the stores (through
    /// the cache below its non-temporal threshold): a small non-temporal
    /// copy would only make the fence after it wait.
    package var copyAndFlush: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void
    /// libpmem2's memcpy, memmove and memset with their flags: the stores,
    /// then a flush and a fence unless the flags leave them out.
    package var copy: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int, MemoryFlags) -> Void
    package var move: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int, MemoryFlags) -> Void
    package var set: @Sendable (UnsafeMutableRawPointer, UInt8, Int, MemoryFlags) -> Void
    /// One non-temporal 8-byte store to an aligned word (`movnti`): durable
    /// at the next fence, with no flush.
    package var storeWordNonTemporally: @Sendable (UnsafeMutableRawPointer, UInt64) -> Void
    /// ``CRC32C/copyThreeParts(into:head:data:throughCache:folding:)``: the
    /// data copied and checksummed in one pass, with non-temporal stores
    /// past the first `throughCache` bytes (which the caller flushes). nil,
    /// having done nothing, where the CPU cannot.
    package var copyChecksummed: @Sendable (UnsafeMutableRawPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int)
        -> (UInt32, UInt32, UInt32)?
    /// Whether a flush writes back cache lines (CPU caches, or a simulated
    /// domain of lines) rather than pages (`msync`): then two flush calls
    /// cost no more than one, and a pool may stream large log payloads.
    package var flushesLines: Bool
    /// How a pool mapped with this table makes its in-place word durable,
    /// given page 0 and the file's device: libpmem2's table measures it with
    /// its own functions (``WordPersistence``), so that an interposer, which
    /// keeps this entry, neither counts nor slows the race; a simulated
    /// domain fixes it (and runs either method).
    package var chooseWordPersistence: @Sendable (UnsafeMutableRawPointer, UInt64?) -> WordPersistence?

    package init(flush: @escaping @Sendable (UnsafeRawPointer, Int) -> Void, drain: @escaping @Sendable () -> Void,
                 copyAndFlush: @escaping @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void,
                 copy: @escaping @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int, MemoryFlags) -> Void,
                 move: @escaping @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int, MemoryFlags) -> Void,
                 set: @escaping @Sendable (UnsafeMutableRawPointer, UInt8, Int, MemoryFlags) -> Void,
                 storeWordNonTemporally: @escaping @Sendable (UnsafeMutableRawPointer, UInt64) -> Void,
                 copyChecksummed: @escaping @Sendable (UnsafeMutableRawPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int)
                     -> (UInt32, UInt32, UInt32)?,
                 flushesLines: Bool,
                 chooseWordPersistence: @escaping @Sendable (UnsafeMutableRawPointer, UInt64?) -> WordPersistence? = { _, _ in nil }) {
        self.flush = flush
        self.drain = drain
        self.copyAndFlush = copyAndFlush
        self.copy = copy
        self.move = move
        self.set = set
        self.storeWordNonTemporally = storeWordNonTemporally
        self.copyChecksummed = copyChecksummed
        self.flushesLines = flushesLines
        self.chooseWordPersistence = chooseWordPersistence
    }

    /// Flush, then fence.
    package func persist(_ address: UnsafeRawPointer, _ count: Int) {
        flush(address, count)
        drain()
    }

    /// How the pool mapped with this table makes an in-place word durable:
    /// none where flushes are `msync` calls (the word is stored and synced
    /// like any other), else as ``chooseWordPersistence`` says.
    package func wordPersistence(page0: UnsafeMutableRawPointer, device: UInt64?) -> WordPersistence? {
        guard flushesLines else { return nil }
        return chooseWordPersistence(page0, device)
    }

    /// libpmem2's functions, `functions`, for a mapping of `granularity`, as the table.
    static func hardware(_ functions: PersistenceFunctions, granularity: StoreGranularity) -> PersistenceCalls {
        let flush = functions.flush, drain = functions.drain
        let memcpy = functions.memcpy, memmove = functions.memmove, memset = functions.memset
        let flushesLines = granularity != .page
        let noDrain = (granularity == .cacheLine ? MemoryFlags([.noDrain, .nonTemporal]) : .noDrain).pmem2
        var table = PersistenceCalls(
            flush: { flush($0, $1) },
            drain: { drain() },
            copyAndFlush: { _ = memcpy($0, $1, $2, noDrain) },
            copy: { _ = memcpy($0, $1, $2, $3.pmem2) },
            move: { _ = memmove($0, $1, $2, $3.pmem2) },
            set: { _ = memset($0, CInt($1), $2, $3.pmem2) },
            storeWordNonTemporally: { pmem_stream64($0, $1) },
            copyChecksummed: { CRC32C.copyThreeParts(into: $0, head: $1, data: $2, throughCache: $3) },
            flushesLines: flushesLines)
        let measuring = table
        table.chooseWordPersistence = { WordPersistence.choose(page0: $0, device: $1, calls: measuring) }
        return table
    }

    /// Calls that only copy: for recovery on an image in memory, where
    /// nothing needs to reach media.
    package static let none = PersistenceCalls(
        flush: { _, _ in }, drain: {},
        copyAndFlush: { $0.copyMemory(from: $1, byteCount: $2) },
        copy: { d, s, n, _ in d.copyMemory(from: s, byteCount: n) },
        move: { d, s, n, _ in d.copyMemory(from: s, byteCount: n) },
        set: { d, b, n, _ in d.initializeMemory(as: UInt8.self, repeating: b, count: n) },
        storeWordNonTemporally: { pmem_store64($0, $1) },
        copyChecksummed: { _, _, _, _ in nil },
        flushesLines: true, chooseWordPersistence: { _, _ in .flushed })

    /// A wrapper for a mapping's hardware calls, given to it when it is
    /// made (`Pool.open(at:interposedBy:)`): it sees every flush, fence and
    /// copy and forwards them to the calls it is given (PMemCrashTesting's
    /// `PersistenceCounter`).
    package typealias Interposer = @Sendable (PersistenceCalls) -> PersistenceCalls
}
