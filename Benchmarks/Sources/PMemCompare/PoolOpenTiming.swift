import Glibc
import PMem
import SystemPackage

/// How long `Pool.open` (seal check, recovery, page table, view) takes for
/// pools of growing size. Each pool is created once (that writes the whole
/// file), opened several times, closed between opens, and deleted.
enum PoolOpenTiming {
    static func capacities(quick: Bool) -> [Int] {
        quick ? [256 << 20] : [256 << 20, 1 << 30, 4 << 30]
    }

    static func measure(scratch: Scratch, repetitions: Int, quick: Bool) throws -> [OpenResult] {
        try capacities(quick: quick).map { capacity in
            let path = scratch.path("open-\(capacity >> 20)M")
            defer { scratch.remove(path) }
            return try measure(capacity: capacity, path: path, repetitions: repetitions)
        }
    }

    private static func measure(capacity: Int, path: String, repetitions: Int) throws -> OpenResult {
        Console.progress("pool open: creating a \(Workload.label(capacity)) pool")
        let createStart = Timing.now()
        // The default spare capacity, as a user would get it; released at
        // the end of the scope, so the opens below find the pool closed.
        do { _ = try Pool.create(at: FilePath(path), capacity: capacity, chunkSize: Workload.chunkSize) }
        let createNs = Timing.now() - createStart

        Console.progress("pool open: opening it \(repetitions) times")
        _ = try openOnce(path)
        var milliseconds: [Double] = []
        var recovered = 0
        for _ in 0..<repetitions {
            let (ns, recoveredCommits) = try openOnce(path)
            milliseconds.append(Double(ns) / 1e6)
            recovered += recoveredCommits
        }
        let fileBytes = try fileSize(path)
        return OpenResult(capacity: capacity, chunkSize: Workload.chunkSize, fileBytes: fileBytes,
                          createSeconds: Double(createNs) / 1e9, repetitionMilliseconds: milliseconds,
                          medianMilliseconds: Timing.median(milliseconds), recoveredCommits: recovered)
    }

    /// One timed open; the pool is closed (released) after the clock stops.
    private static func openOnce(_ path: String) throws -> (nanoseconds: UInt64, recoveredCommits: Int) {
        let start = Timing.now()
        let pool = try Pool.open(at: FilePath(path))
        let elapsed = Timing.now() - start
        return withExtendedLifetime(pool) { (nanoseconds: elapsed, recoveredCommits: pool.recoveredCommits) }
    }

    private static func fileSize(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw PeerFailure("stat \(path): \(String(cString: strerror(errno)))") }
        return Int(info.st_size)
    }
}
