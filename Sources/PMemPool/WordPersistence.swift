import CPMemAtomics
import Glibc
import PMemMapping

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

    /// The method for a pool whose mapping calls libpmem2's cache-line
    /// flushes directly: the environment's, else the faster of the two in a
    /// short race on `word`, a word of the pool's metadata that nothing else
    /// writes while the pool opens (it is stored back with its own value, so
    /// the media never holds anything else, crash or not). About 20 µs.
    static func choose(rewriting word: UnsafeMutableRawPointer, hardware: HardwareCalls) -> WordPersistence {
        if let fixed = getenv(environmentVariable).flatMap({ WordPersistence(rawValue: String(cString: $0)) }) {
            return fixed
        }
        #if arch(x86_64)
        let value = pmem_load64(word)
        let perBatch = 16
        var best = (streamed: UInt64.max, flushed: UInt64.max)
        // Rounds alternate which method goes first; the minimum of each
        // method's batches is the least disturbed one.
        for round in 0..<6 {
            for method in round % 2 == 0 ? [Self.streamed, .flushed] : [.flushed, .streamed] {
                let start = monotonicNanoseconds()
                for _ in 0..<perBatch {
                    if method == .streamed {
                        pmem_stream64(word, value)
                    } else {
                        pmem_store64(word, value)
                        hardware.flush(word, 8)
                    }
                    hardware.drain()
                }
                let elapsed = monotonicNanoseconds() &- start
                if method == .streamed { best.streamed = min(best.streamed, elapsed) } else { best.flushed = min(best.flushed, elapsed) }
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
