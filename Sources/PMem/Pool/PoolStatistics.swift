import Synchronization

/// What a pool has written and done since it was opened; the benchmarks
/// compute write amplification from these.
public struct PoolStatistics: Sendable, Hashable {
    /// Committed updates (single writes and transactions).
    public var commits: Int
    /// Bytes the callers asked to write.
    public var bytesRequested: Int
    /// Bytes stored in place (the hardware-atomic path).
    public var inPlaceBytes: Int
    /// Bytes written to the redo log (entries and payload), plus commit records.
    public var logBytes: Int
    /// Bytes applied in place from the log.
    public var appliedBytes: Int
    /// Bytes written into spare chunks for remapping.
    public var remapBytes: Int
    /// Logical chunks remapped to new physical chunks.
    public var remaps: Int
    /// Fences (drains) issued.
    public var fences: Int

    /// Creates statistics (all zero by default).
    public init(commits: Int = 0, bytesRequested: Int = 0, inPlaceBytes: Int = 0, logBytes: Int = 0,
                appliedBytes: Int = 0, remapBytes: Int = 0, remaps: Int = 0, fences: Int = 0) {
        self.commits = commits
        self.bytesRequested = bytesRequested
        self.inPlaceBytes = inPlaceBytes
        self.logBytes = logBytes
        self.appliedBytes = appliedBytes
        self.remapBytes = remapBytes
        self.remaps = remaps
        self.fences = fences
    }

    /// Bytes written to the media (data and metadata) per byte requested.
    public var writeAmplification: Double {
        bytesRequested == 0 ? 0 : Double(inPlaceBytes + logBytes + appliedBytes + remapBytes) / Double(bytesRequested)
    }
}

/// The pool's counters, updated from any thread.
final class PoolCounters: Sendable {
    let commits = Atomic<Int>(0), bytesRequested = Atomic<Int>(0), inPlaceBytes = Atomic<Int>(0)
    let logBytes = Atomic<Int>(0), appliedBytes = Atomic<Int>(0), remapBytes = Atomic<Int>(0)
    let remaps = Atomic<Int>(0), fences = Atomic<Int>(0)

    var snapshot: PoolStatistics {
        PoolStatistics(
            commits: commits.load(ordering: .relaxed), bytesRequested: bytesRequested.load(ordering: .relaxed),
            inPlaceBytes: inPlaceBytes.load(ordering: .relaxed), logBytes: logBytes.load(ordering: .relaxed),
            appliedBytes: appliedBytes.load(ordering: .relaxed), remapBytes: remapBytes.load(ordering: .relaxed),
            remaps: remaps.load(ordering: .relaxed), fences: fences.load(ordering: .relaxed))
    }
}
