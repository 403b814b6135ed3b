import PMem

/// Everything one run measured: what the table, the JSON, the chart and the
/// targets are made from.
struct Results: Codable {
    var tool = "pmem-compare"
    var date: String
    var machine: MachineInfo
    var settings: Settings
    var sizes: [SizeResult]
    var threads: ThreadResult
    var persist: PersistResult
    var poolOpens: [OpenResult]
    /// Pool.write against pwritev2(RWF_ATOMIC | RWF_DSYNC) on a loop-mounted xfs.
    var kernelAtomic: KernelAtomicResult
    /// Pools of growing chunk counts on the disk (ScaleComparison.swift);
    /// nil with --no-scale.
    var scale: ScaleResult?
    var targets: [Target] = []

    /// The median ns per write of `peer` at `size`, if it ran there.
    func median(_ peer: String, size: Int) -> Double? {
        sizes.first { $0.size == size }?.result(peer)?.medianNsPerOp
    }
}

struct Settings: Codable {
    var directory: String
    var repetitions: Int
    var quick: Bool
    /// Whether pmem-compare set the two variables itself.
    var forced: Bool
    /// PMEM2_FORCE_GRANULARITY and PMEM_IS_PMEM_FORCE as the run saw them.
    var environment: [String: String]
    /// The store granularity libpmem2 chose for the pool's file and for the raw mapping.
    var poolGranularity: String
    /// How the pool's in-place writes make a word durable, as its open
    /// measured (`Pool.wordPersistence`); nil off cache-line flushes.
    var poolWordPersistence: String?
    var rawGranularity: String
    var poolCapacity: Int
    var poolChunkSize: Int
    var poolSpareCapacity: Int
    var poolLanes: Int
    var offsetSlots: Int
    var method: String
}

/// One peer at one size.
struct PeerResult: Codable {
    var peer: String
    var series: Series
    var payloadBytes: Int
    var iterations: Int
    /// Every repetition: total nanoseconds, and per write.
    var repetitionTotalNs: [UInt64]
    var repetitionNsPerOp: [Double]
    var medianNsPerOp: Double
    /// Payload bytes per nanosecond of the median, i.e. GB/s.
    var gigabytesPerSecond: Double
    /// Median ns over raw libpmem2's median ns at the same size.
    var ratioToRaw: Double?

    init(peer: String, series: Series, payloadBytes: Int, iterations: Int, totalNanoseconds: [UInt64]) {
        self.peer = peer
        self.series = series
        self.payloadBytes = payloadBytes
        self.iterations = iterations
        repetitionTotalNs = totalNanoseconds
        repetitionNsPerOp = totalNanoseconds.map { Double($0) / Double(iterations) }
        medianNsPerOp = Timing.median(repetitionNsPerOp)
        gigabytesPerSecond = medianNsPerOp > 0 ? Double(payloadBytes) / medianNsPerOp : 0
    }
}

/// Every peer at one payload size, and what the pool wrote to the media.
struct SizeResult: Codable {
    var size: Int
    var iterations: Int
    var peers: [PeerResult]
    /// The pool's counters over the measured (not the warm-up) writes.
    var poolStatistics: StatisticsDelta
    var mediaBytesPerPayloadByte: Double
    /// Fences, flush calls and lines flushed per Pool.write, from the counted pass.
    var poolCounts: CountedResult?

    func result(_ peer: String) -> PeerResult? { peers.first { $0.peer == peer } }
}

/// The difference of two `PoolStatistics` snapshots.
struct StatisticsDelta: Codable {
    var commits: Int
    var bytesRequested: Int
    var inPlaceBytes: Int
    var logBytes: Int
    var appliedBytes: Int
    var remapBytes: Int
    var remaps: Int
    var fences: Int

    init(before a: PoolStatistics, after b: PoolStatistics) {
        commits = b.commits - a.commits
        bytesRequested = b.bytesRequested - a.bytesRequested
        inPlaceBytes = b.inPlaceBytes - a.inPlaceBytes
        logBytes = b.logBytes - a.logBytes
        appliedBytes = b.appliedBytes - a.appliedBytes
        remapBytes = b.remapBytes - a.remapBytes
        remaps = b.remaps - a.remaps
        fences = b.fences - a.fences
    }

    /// The library's own definition (`PoolStatistics.writeAmplification`):
    /// bytes in place, logged, applied and copied for remapping, per byte requested.
    var writeAmplification: Double {
        PoolStatistics(commits: commits, bytesRequested: bytesRequested, inPlaceBytes: inPlaceBytes, logBytes: logBytes,
                       appliedBytes: appliedBytes, remapBytes: remapBytes, remaps: remaps, fences: fences).writeAmplification
    }
}

/// The Swift wrapper's store + persist against the same loop timed in C.
struct PersistResult: Codable {
    var iterations: Int
    var swiftGranularity: String
    var cGranularity: String
    var swiftRepetitionNsPerOp: [Double]
    var cRepetitionNsPerOp: [Double]
    var swiftMedianNsPerOp: Double
    var cMedianNsPerOp: Double
    /// Swift median over C median.
    var ratio: Double
}

/// Opening (and recovering) one pool size.
struct OpenResult: Codable {
    var capacity: Int
    var chunkSize: Int
    var fileBytes: Int
    var createSeconds: Double
    var repetitionMilliseconds: [Double]
    var medianMilliseconds: Double
    var recoveredCommits: Int
}

/// One thread against two and four on disjoint small writes.
struct ThreadResult: Codable {
    var writeBytes: Int
    var totalWrites: Int
    var oneThreadRepetitionOpsPerSecond: [Double]
    var twoThreadRepetitionOpsPerSecond: [Double]
    var fourThreadRepetitionOpsPerSecond: [Double]
    var oneThreadOpsPerSecond: Double
    var twoThreadOpsPerSecond: Double
    var fourThreadOpsPerSecond: Double
    /// Two threads' ops/s over one thread's.
    var speedup: Double
    /// Four threads' ops/s over one thread's (reported, no target).
    var fourThreadSpeedup: Double
}

/// A run of the scale section alone (`--scale-only`): what
/// `scripts/bench-tables --scale` renders.
struct ScaleRun: Codable {
    var tool = "pmem-compare --scale-only"
    var date: String
    var machine: MachineInfo
    var repetitions: Int
    var scale: ScaleResult
    var targets: [Target]
}
