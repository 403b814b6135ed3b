import PMDKPeers

/// One thing to time: a call runs a fixed batch of operations and returns
/// the nanoseconds it took.
struct Contender {
    let name: String
    let run: () throws -> UInt64
}

/// Timing with CLOCK_MONOTONIC, repetitions interleaved across contenders.
enum Timing {
    /// CLOCK_MONOTONIC in nanoseconds (the clock the C peers use too).
    static func now() -> UInt64 { peer_now_ns() }

    /// One untimed run of each: faults pages in, warms caches and allocators.
    static func warmUp(_ contenders: [Contender]) throws {
        for contender in contenders { _ = try contender.run() }
    }

    /// `repetitions` rounds; round `r` runs every contender once, starting
    /// with contender `r` (rotating the order), so that drift of the machine
    /// and whoever ran just before hit every contender alike.
    /// Returns the nanoseconds of each contender's runs, in round order.
    static func interleaved(_ contenders: [Contender], repetitions: Int) throws -> [[UInt64]] {
        var samples = [[UInt64]](repeating: [], count: contenders.count)
        for round in 0..<repetitions {
            for k in contenders.indices {
                let i = (round + k) % contenders.count
                let nanoseconds = try contenders[i].run()
                samples[i].append(nanoseconds)
            }
        }
        return samples
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
