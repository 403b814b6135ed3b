import CPMemAtomics
import Glibc
import Synchronization

/// How an in-place write (at most 8 bytes in one aligned word) makes its word
/// durable where flushes are libpmem2's cache-line ones. Both are correct;
/// which is faster depends on the CPU, so an open measures them.
///
/// - ``streamed``: one non-temporal 8-byte store (`movnti`), then the fence;
///   no flush. A partial-line non-temporal store is written to memory on its
///   own, which some CPUs do quickly and others do not.
/// - ``flushed``: an ordinary 8-byte store, a flush of its line, the fence.
///
/// Measured with C probes on /dev/shm (forced cache line), per word: one
/// host of this project 103 ns streamed against 168 ns flushed, another
/// (family 6 model 207) 313 ns against 157 ns.
public enum WordPersistence: String, Sendable {
    /// One non-temporal 8-byte store, then the fence.
    case streamed
    /// A store, a flush of its line, then the fence.
    case flushed

    /// The environment variable that fixes the choice instead of measuring
    /// it: `streamed` or `flushed` (anything else is ignored).
    public static let environmentVariable = "SWIFT_PMEM_WORD_PERSISTENCE"

    /// The method for a pool whose mapping's flushes are cache-line ones: the environment's, else the one measured for the
    /// file's device (`st_dev`) earlier in this process, else the faster of the two in
    /// a race on page 0 of the pool file (`page0`), in the bytes between the
    /// header and the shutdown record that the format keeps zero and nothing
    /// writes while the pool opens: the first word of each of its sixteen
    /// lines, each stored back with the value it holds, so the media never
    /// holds anything else, crash or not.
    ///
    /// What is timed is the sustained cost: a CPU absorbs a burst of a few
    /// dozen non-temporal stores almost for free (C probe on this project's
    /// host: 32 of them with their fences in 0.1–0.4 µs, then ~300 ns each),
    /// so each batch times 192 writes after 64 that fill the queues. Each
    /// method has its own eight lines, as a write has its own: a
    /// non-temporal store leaves its line out of the caches, which a store
    /// and flush to the same line would then pay for. About 0.5 ms, once per
    /// device and process.
    static func choose(page0: UnsafeMutableRawPointer, device: UInt64?, calls: PersistenceCalls) -> WordPersistence {
        #if arch(x86_64)
        if let fixed = getenv(environmentVariable).flatMap({ WordPersistence(rawValue: String(cString: $0)) }) {
            return fixed
        }
        #else
        // Elsewhere pmem_stream64 is an ordinary store: it would need the flush.
        return .flushed
        #endif
        if let device, let known = measured.withLock({ $0[device] }) { return known }
        let chosen = race(page0: page0, calls: calls)
        if let device { measured.withLock { $0[device] = chosen } }
        return chosen
    }

    /// What earlier opens in this process measured, by device number.
    private static let measured = Mutex<[UInt64: WordPersistence]>([:])

    private static func race(page0: UnsafeMutableRawPointer, calls: PersistenceCalls) -> WordPersistence {
        #if arch(x86_64)
        let lines = 8, warm = 64, timed = 192
        // Bytes 128..<640 for one method, 640..<1152 for the other (docs/FORMAT.md: page 0).
        let streamedLines = page0 + 128, flushedLines = streamedLines + 64 * lines
        var values = (streamed: [UInt64](), flushed: [UInt64]())
        for k in 0..<lines {
            values.streamed.append(pmem_load64(streamedLines + 64 * k))
            values.flushed.append(pmem_load64(flushedLines + 64 * k))
        }
        var best = (streamed: UInt64.max, flushed: UInt64.max)
        // Rounds alternate which method goes first; the minimum of each
        // method's batches is the least disturbed one.
        for round in 0..<4 {
            for streams in round % 2 == 0 ? [true, false] : [false, true] {
                var start: UInt64 = 0
                for i in 0..<(warm + timed) {
                    if i == warm { start = monotonicNanoseconds() }
                    let k = i % lines
                    if streams {
                        calls.storeWordNonTemporally(streamedLines + 64 * k, values.streamed[k])
                    } else {
                        let word = flushedLines + 64 * k
                        pmem_store64(word, values.flushed[k])
                        calls.flush(word, 8)
                    }
                    calls.drain()
                }
                let elapsed = monotonicNanoseconds() &- start
                if streams { best.streamed = min(best.streamed, elapsed) } else { best.flushed = min(best.flushed, elapsed) }
            }
        }
        return best.streamed < best.flushed ? .streamed : .flushed
        #else
        return .flushed
        #endif
    }

    private static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}
