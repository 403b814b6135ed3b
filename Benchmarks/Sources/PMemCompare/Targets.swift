/// One goal, checked against a measured value. Reported, never enforced: a
/// missed target does not change the exit status.
struct Target: Codable {
    var goal: String
    /// Where the goal comes from: "issue 13" (the small-commit work),
    /// "issue 31" (small writes at the floor), "issue 28" (device scale)
    /// or "earlier" (goals of earlier work that issue 13 does not restate).
    var source: String
    /// What was compared with the limit; nil when it was not measured.
    var measured: Double?
    var unit: String
    var limit: Double
    /// true: measured must be at most `limit`; false: at least.
    var atMost: Bool
    var met: Bool?

    init(_ source: String, _ goal: String, _ measured: Double?, _ unit: String, atMost limit: Double) {
        self.init(source, goal, measured, unit, limit: limit, atMost: true)
    }

    init(_ source: String, _ goal: String, _ measured: Double?, _ unit: String, atLeast limit: Double) {
        self.init(source, goal, measured, unit, limit: limit, atMost: false)
    }

    private init(_ source: String, _ goal: String, _ measured: Double?, _ unit: String, limit: Double, atMost: Bool) {
        self.goal = goal
        self.source = source
        self.measured = measured
        self.unit = unit
        self.limit = limit
        self.atMost = atMost
        met = measured.map { atMost ? $0 <= limit : $0 >= limit }
    }
}

enum Targets {
    static let issue = "issue 13", small = "issue 31", device = "issue 28", earlier = "earlier"

    static func evaluate(_ results: Results) -> [Target] {
        let pool = PeerName.pool, raw = PeerName.raw, obj = PeerName.pmemobj
        func m(_ peer: String, _ size: Int) -> Double? { results.median(peer, size: size) }
        /// a / b, e.g. peer ns over pool ns: how many times faster the pool is.
        func ratio(_ a: Double?, _ b: Double?) -> Double? {
            guard let a, let b, b > 0 else { return nil }
            return a / b
        }
        func counted(_ size: Int) -> CountedResult? { results.sizes.first { $0.size == size }?.poolCounts }
        func fasterThanObj(_ size: Int) -> Double? { ratio(m(obj, size), m(pool, size)) }
        func fasterThanBlk(_ size: Int) -> Double? { ratio(m(PeerName.pmemblk(blockSize: size), size), m(pool, size)) }
        func overKernel(_ size: Int) -> Double? {
            results.kernelAtomic.size(size).flatMap { $0.poolOverKernel > 0 ? $0.poolOverKernel : nil }
        }
        let gib = results.poolOpens.first { $0.capacity == 1 << 30 }?.medianMilliseconds
        var targets = [
            Target(issue, "8 B within 1.3x of raw 8 B store+persist (pool / raw)", ratio(m(pool, 8), m(raw, 8)), "x", atMost: 1.3),
            Target(issue, "64 B 2x faster than pmemobj's 64 B tx (pmemobj / pool)", fasterThanObj(64), "x", atLeast: 2),
            Target(issue, "256 B 2x faster than pmemobj's 256 B tx (pmemobj / pool)", fasterThanObj(256), "x", atLeast: 2),
        ]
        for size in [512, 4096] {
            let label = Workload.label(size)
            targets += [
                Target(issue, "\(label) at least as fast as pmemblk \(label) block (pmemblk / pool)", fasterThanBlk(size), "x", atLeast: 1),
                Target(issue, "\(label) aim: 1.2x pmemblk \(label) block (pmemblk / pool)", fasterThanBlk(size), "x", atLeast: 1.2),
                Target(issue, "\(label) 2x faster than pmemobj's \(label) tx (pmemobj / pool)", fasterThanObj(size), "x", atLeast: 2),
            ]
        }
        targets += [
            Target(issue, "1 MiB 3x faster than pmemobj's 1 MiB tx (pmemobj / pool)", fasterThanObj(1 << 20), "x", atLeast: 3),
            Target(issue, "two threads at least 1.6x one thread (ops/s)",
                   results.threads.speedup > 0 ? results.threads.speedup : nil, "x", atLeast: 1.6),
        ]
        for size in [4 << 10, 64 << 10, 1 << 20] {
            targets.append(Target(issue, "xfs: \(Workload.label(size)) within 1.5x of RWF_ATOMIC|RWF_DSYNC (pool / kernel)",
                                  overKernel(size), "x", atMost: 1.5))
        }
        targets.append(Target(issue, "media bytes per payload byte at 256 B (lines flushed x 64, counted)",
                              counted(256)?.mediaBytesPerPayloadByte, "B/B", atMost: 2.5))
        for size in [64, 4096] {
            let label = Workload.label(size)
            targets += [
                Target(issue, "\(label): fences per commit, cache-flush path (counted)", counted(size)?.cacheFlushFencesPerCommit, "/commit", atMost: 2),
                Target(issue, "\(label): fences per commit, msync path (counted)", counted(size)?.fencesPerCommit, "/commit", atMost: 2),
                Target(issue, "\(label): flush calls per commit, msync path (counted)", counted(size)?.flushCallsPerCommit, "/commit", atMost: 2),
            ]
        }
        // Issue 31: against pmemobj at its best (the faster of its plain and
        // non-temporal transactions), and against the floor loop.
        func bestObj(_ size: Int) -> Double? {
            [m(obj, size), m(PeerName.pmemobjNT, size)].compactMap { $0 }.min()
        }
        func fasterThanBestObj(_ size: Int) -> Double? { ratio(bestObj(size), m(pool, size)) }
        for size in [64, 256, 512] {
            let label = Workload.label(size)
            targets.append(Target(small, "\(label) 2x faster than pmemobj at its best (best pmemobj / pool)",
                                  fasterThanBestObj(size), "x", atLeast: 2))
        }
        targets += [
            Target(small, "4 KiB 2x faster than pmemobj at its best (best pmemobj / pool)", fasterThanBestObj(4096), "x", atLeast: 2),
            Target(small, "1 MiB 2.5x faster than pmemobj at its best (best pmemobj / pool)", fasterThanBestObj(1 << 20), "x", atLeast: 2.5),
        ]
        for size in [64, 256, 4096] {
            targets.append(Target(small, "\(Workload.label(size)) within 1.5x of the logged-write floor (pool / floor)",
                                  ratio(m(pool, size), m(PeerName.floor, size)), "x", atMost: 1.5))
        }
        if results.settings.environment["PMEM2_FORCE_GRANULARITY"] == "BYTE" {
            targets += [
                Target(small, "byte granularity: 64 B within 2x of raw (pool / raw)", ratio(m(pool, 64), m(raw, 64)), "x", atMost: 2),
                Target(small, "byte granularity: 4 KiB within 1.5x of two raw copies (pool / 2 raw)",
                       ratio(m(pool, 4096), m(raw, 4096).map { 2 * $0 }), "x", atMost: 1.5),
            ]
        }
        targets += [
            Target(earlier, "8 B 4x faster than pmemobj's 64 B tx (pmemobj / pool)", ratio(m(obj, 64), m(pool, 8)), "x", atLeast: 4),
            Target(earlier, "1 MiB within 2x of raw (pool / raw)", ratio(m(pool, 1 << 20), m(raw, 1 << 20)), "x", atMost: 2),
            Target(earlier, "media bytes per payload byte, 16 MiB chunk-aligned writes (counted)",
                   counted(16 << 20)?.mediaBytesPerPayloadByte, "B/B", atMost: 1.1),
            Target(earlier, "Swift store+persist within 1.05x of C (Swift / C)",
                   results.persist.ratio > 0 ? results.persist.ratio : nil, "x", atMost: 1.05),
            Target(earlier, "1 GiB pool opens in at most 50 ms (median)", gib, "ms", atMost: 50),
        ]
        if let scale = results.scale { targets += Self.scale(scale) }
        return targets
    }

    /// The device-scale goals: a pool of 4 Mi chunks against one of 32 Ki.
    static func scale(_ scale: ScaleResult) -> [Target] {
        let small = scale.pool(32_768), large = scale.pool(4_194_304)
        func over(_ value: (ScalePoolResult) -> Double) -> Double? {
            guard let small, let large, value(small) > 0 else { return nil }
            return value(large) / value(small)
        }
        return [
            Target(device, "256 B write at 4 Mi chunks within 1.1x of 32 Ki chunks", over(\.write256MedianNs), "x", atMost: 1.1),
            Target(device, "chunk remap at 4 Mi chunks within 1.3x of 32 Ki chunks", over(\.remapMedianNs), "x", atMost: 1.3),
            Target(device, "open of 4 Mi chunks under 50 ns per chunk", large?.openNsPerChunk, "ns", atMost: 50),
        ]
    }
}
