import PMem

/// The atomic-write comparison: at each size, every peer that can write it,
/// interleaved repetition by repetition.
enum SizeSweep {
    static func run(peers: [any Peer], pool: PoolPeer, repetitions: Int, quick: Bool) throws -> [SizeResult] {
        try Workload.sizes.map { size in
            try measure(size: size, peers: peers.filter { $0.supports(size: size) }, pool: pool,
                        repetitions: repetitions, iterations: Workload.iterations(size: size, quick: quick))
        }
    }

    private static func measure(size: Int, peers: [any Peer], pool: PoolPeer, repetitions: Int,
                                iterations: Int) throws -> SizeResult {
        Console.progress("writes of \(Workload.label(size)): \(peers.count) peers, \(repetitions) × \(iterations) writes each")
        let payload = Workload.payload(size: size)
        let contenders = peers.map { peer in
            Contender(name: peer.name) { try timeWrites(peer, payload: payload, count: iterations) }
        }
        try Timing.warmUp(contenders)
        // Only the pool touches its counters, so the delta across the
        // interleaved rounds is exactly that of its measured writes.
        let before = pool.statistics
        let samples = try Timing.interleaved(contenders, repetitions: repetitions)
        let delta = StatisticsDelta(before: before, after: pool.statistics)

        var results = zip(peers, samples).map { peer, ns in
            PeerResult(peer: peer.name, series: peer.series, payloadBytes: size, iterations: iterations, totalNanoseconds: ns)
        }
        if let raw = results.first(where: { $0.series == .raw })?.medianNsPerOp, raw > 0 {
            for i in results.indices { results[i].ratioToRaw = results[i].medianNsPerOp / raw }
        }
        return SizeResult(size: size, iterations: iterations, peers: results, poolStatistics: delta,
                          mediaBytesPerPayloadByte: delta.writeAmplification)
    }

    /// `count` writes at the workload's rotating offsets; the loop is the
    /// same for every peer, so its overhead is too.
    private static func timeWrites(_ peer: some Peer, payload: [UInt8], count: Int) throws -> UInt64 {
        let start = Timing.now()
        for i in 0..<count {
            try peer.write(payload, at: Workload.offset(size: payload.count, iteration: i), iteration: i)
        }
        return Timing.now() - start
    }
}
