import Glibc
import PMem
import PMemCrashTesting
import SystemPackage

/// Fences, flush calls and cache lines flushed per `Pool.write`, counted
/// from outside the pool's own tallies: a second pool, of the same
/// configuration as the timed one, opened through a `PersistenceCounter`
/// (which counts each libpmem2 call and then makes it). A separate pass, so
/// the timed pool's persistence is never routed.
enum CountedPass {
    /// At each workload size: one untimed batch (as the timing's warm-up),
    /// then one counted batch of the same writes.
    /// Two passes: on the msync path (each flush call one msync; where the
    /// pool defers applies), and on the cache-flush path, whose fences and
    /// cache lines flushed are what DAX pays (an msync path's whole-file
    /// sync names every line of the file, whichever pages are dirty).
    static func measure(scratch: Scratch, quick: Bool) throws -> [Int: CountedResult] {
        var msync = try measure(scratch: scratch, quick: quick, granularity: nil)
        let lines = try measure(scratch: scratch, quick: quick, granularity: "CACHE_LINE")
        for (size, line) in lines { msync[size]?.takeLineCounts(from: line) }
        return msync
    }

    private static func measure(scratch: Scratch, quick: Bool, granularity: String?) throws -> [Int: CountedResult] {
        Console.progress("counted pass (\(granularity == nil ? "msync path" : "cache-flush path")): fences, flush calls and lines flushed per Pool.write, through a counting routing")
        let path = scratch.path("pool-counted")
        defer { scratch.remove(path) }
        // libpmem2 reads PMEM2_FORCE_GRANULARITY at every mapping.
        let forced = getenv("PMEM2_FORCE_GRANULARITY").map { String(cString: $0) }
        if let granularity { setenv("PMEM2_FORCE_GRANULARITY", granularity, 1) } else { unsetenv("PMEM2_FORCE_GRANULARITY") }
        defer { if let forced { setenv("PMEM2_FORCE_GRANULARITY", forced, 1) } else { unsetenv("PMEM2_FORCE_GRANULARITY") } }
        let counter = PersistenceCounter()
        let pool = try counter.create(at: FilePath(path), capacity: Workload.regionSize, chunkSize: Workload.chunkSize,
                                      spareCapacity: Workload.spareCapacity, lanes: Workload.poolLanes)
        var results: [Int: CountedResult] = [:]
        for size in Workload.sizes where size <= Workload.spareCapacity {
            let writes = min(Workload.iterations(size: size, quick: quick), Workload.offsetSlots)
            results[size] = try count(pool, counter, size: size, writes: writes, warmUp: true)
        }
        return results
    }

    /// `writes` writes of `size` bytes at the workload's offsets, counted.
    static func count(_ pool: Pool, _ counter: PersistenceCounter, size: Int, writes: Int, warmUp: Bool,
                      offset: (Int) -> Int = { _ in 0 }) throws -> CountedResult {
        let payload = Workload.payload(size: size)
        func batch() throws {
            for i in 0..<writes { try pool.write(payload, at: offset(i) + Workload.offset(size: size, iteration: i)) }
        }
        if warmUp { try batch() }
        let before = counter.counts, commitsBefore = pool.statistics.commits
        try batch()
        let counts = counter.counts - before
        return CountedResult(writes: writes, commits: pool.statistics.commits - commitsBefore,
                             granularity: pool.ioInfo.storeGranularity.description, payloadBytes: size,
                             fences: counts.fences, flushCalls: counts.flushCalls, linesFlushed: counts.linesFlushed)
    }
}

/// What the counting routing saw over a batch of `Pool.write`s of one size.
struct CountedResult: Codable {
    var writes: Int
    /// Commits the pool made for them (one per write).
    var commits: Int
    /// The counted pool's store granularity: "page" means each flush call was an msync.
    var granularity: String
    var payloadBytes: Int
    /// libpmem2 drains (no-ops on the msync path).
    var fences: Int
    /// libpmem2 flushes and flushing copies: one msync each on the msync path.
    var flushCalls: Int
    var linesFlushed: Int
    var fencesPerCommit: Double
    var flushCallsPerCommit: Double
    /// Cache lines flushed × 64 over payload bytes, the record included
    /// (from the cache-flush pass when there is one).
    var mediaBytesPerPayloadByte: Double
    /// The cache-flush pass's fences per commit (what DAX pays), when this
    /// result is the msync pass's.
    var cacheFlushFencesPerCommit: Double?

    /// The lines flushed and fences of the cache-flush pass of the same writes.
    mutating func takeLineCounts(from line: CountedResult) {
        linesFlushed = line.linesFlushed
        mediaBytesPerPayloadByte = line.mediaBytesPerPayloadByte
        cacheFlushFencesPerCommit = line.fencesPerCommit
    }

    init(writes: Int, commits: Int, granularity: String, payloadBytes: Int, fences: Int, flushCalls: Int, linesFlushed: Int) {
        self.writes = writes
        self.commits = commits
        self.granularity = granularity
        self.payloadBytes = payloadBytes
        self.fences = fences
        self.flushCalls = flushCalls
        self.linesFlushed = linesFlushed
        let n = Double(max(writes, 1))
        fencesPerCommit = Double(fences) / n
        flushCallsPerCommit = Double(flushCalls) / n
        mediaBytesPerPayloadByte = Double(linesFlushed * 64) / (Double(payloadBytes) * n)
    }
}
