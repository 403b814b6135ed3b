/// One goal from the issue, checked against a measured value. Reported,
/// never enforced: a missed target does not change the exit status.
struct Target: Codable {
    var goal: String
    /// What was compared with the limit; nil when it was not measured.
    var measured: Double?
    var unit: String
    var limit: Double
    /// true: measured must be at most `limit`; false: at least.
    var atMost: Bool
    var met: Bool?

    init(_ goal: String, _ measured: Double?, _ unit: String, atMost limit: Double) {
        self.init(goal, measured, unit, limit: limit, atMost: true)
    }

    init(_ goal: String, _ measured: Double?, _ unit: String, atLeast limit: Double) {
        self.init(goal, measured, unit, limit: limit, atMost: false)
    }

    private init(_ goal: String, _ measured: Double?, _ unit: String, limit: Double, atMost: Bool) {
        self.goal = goal
        self.measured = measured
        self.unit = unit
        self.limit = limit
        self.atMost = atMost
        met = measured.map { atMost ? $0 <= limit : $0 >= limit }
    }
}

enum Targets {
    static func evaluate(_ results: Results) -> [Target] {
        let pool = PeerName.pool, raw = PeerName.raw, obj = PeerName.pmemobj
        let blk4K = PeerName.pmemblk(blockSize: 4096)
        func m(_ peer: String, _ size: Int) -> Double? { results.median(peer, size: size) }
        /// a / b, e.g. peer ns over pool ns: how many times faster the pool is.
        func ratio(_ a: Double?, _ b: Double?) -> Double? {
            guard let a, let b, b > 0 else { return nil }
            return a / b
        }
        func amplification(_ size: Int) -> Double? {
            results.sizes.first { $0.size == size }?.mediaBytesPerPayloadByte
        }
        let gib = results.poolOpens.first { $0.capacity == 1 << 30 }?.medianMilliseconds
        return [
            Target("8 B atomic write within 1.3x of raw 8 B store+persist (pool / raw)",
                   ratio(m(pool, 8), m(raw, 8)), "x", atMost: 1.3),
            Target("8 B atomic write 4x faster than pmemobj's 64 B tx (pmemobj / pool)",
                   ratio(m(obj, 64), m(pool, 8)), "x", atLeast: 4),
            Target("4 KiB atomic write 2x faster than pmemblk 4 KiB block (pmemblk / pool)",
                   ratio(m(blk4K, 4096), m(pool, 4096)), "x", atLeast: 2),
            Target("4 KiB atomic write 2x faster than pmemobj's 4 KiB tx (pmemobj / pool)",
                   ratio(m(obj, 4096), m(pool, 4096)), "x", atLeast: 2),
            Target("1 MiB atomic write 4x faster than pmemobj's 1 MiB tx (pmemobj / pool)",
                   ratio(m(obj, 1 << 20), m(pool, 1 << 20)), "x", atLeast: 4),
            Target("1 MiB atomic write within 2x of raw (pool / raw)",
                   ratio(m(pool, 1 << 20), m(raw, 1 << 20)), "x", atMost: 2),
            Target("media bytes per payload byte, 16 MiB chunk-aligned writes",
                   amplification(16 << 20), "B/B", atMost: 1.1),
            Target("media bytes per payload byte, 256 B writes",
                   amplification(256), "B/B", atMost: 2.2),
            Target("Swift store+persist within 1.05x of C (Swift / C)",
                   results.persist.ratio > 0 ? results.persist.ratio : nil, "x", atMost: 1.05),
            Target("1 GiB pool opens in at most 50 ms (median)", gib, "ms", atMost: 50),
            Target("two threads at least 1.6x one thread (ops/s)",
                   results.threads.speedup > 0 ? results.threads.speedup : nil, "x", atLeast: 1.6),
        ]
    }
}
