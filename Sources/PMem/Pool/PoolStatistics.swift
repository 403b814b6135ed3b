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

/// The pool's counters, updated from any thread: one set per lane, each on
/// its own cache lines, since a commit holds its lane. (One shared set made
/// two threads' commits take turns on the counters' cache line: measured,
/// no speed-up from a second thread.)
final class PoolCounters: Sendable {
    private let lanes: [LaneCounters]

    init(lanes count: Int) { lanes = (0..<count).map { _ in LaneCounters() } }

    /// The counters of `lane`.
    subscript(lane: Int) -> LaneCounters { lanes[lane] }

    var snapshot: PoolStatistics {
        lanes.reduce(into: PoolStatistics()) { s, c in
            s.commits += c.commits.load(ordering: .relaxed)
            s.bytesRequested += c.bytesRequested.load(ordering: .relaxed)
            s.inPlaceBytes += c.inPlaceBytes.load(ordering: .relaxed)
            s.logBytes += c.logBytes.load(ordering: .relaxed)
            s.appliedBytes += c.appliedBytes.load(ordering: .relaxed)
            s.remapBytes += c.remapBytes.load(ordering: .relaxed)
            s.remaps += c.remaps.load(ordering: .relaxed)
            s.fences += c.fences.load(ordering: .relaxed)
        }
    }
}

/// The counters of one lane, padded to two cache lines.
final class LaneCounters: Sendable {
    let commits = Atomic<Int>(0), bytesRequested = Atomic<Int>(0), inPlaceBytes = Atomic<Int>(0)
    let logBytes = Atomic<Int>(0), appliedBytes = Atomic<Int>(0), remapBytes = Atomic<Int>(0)
    let remaps = Atomic<Int>(0), fences = Atomic<Int>(0)
    /// Adds to the counters. Only the holder of the lane writes them, so each
    /// is a plain load and store, not a locked read-modify-write; readers
    /// (``Pool/statistics``) load them relaxed.
    @inline(__always)
    func add(commits: Int = 0, bytesRequested: Int = 0, inPlaceBytes: Int = 0, logBytes: Int = 0,
             appliedBytes: Int = 0, remapBytes: Int = 0, remaps: Int = 0, fences: Int = 0) {
        if commits != 0 { self.commits.store(self.commits.load(ordering: .relaxed) &+ commits, ordering: .relaxed) }
        if bytesRequested != 0 { self.bytesRequested.store(self.bytesRequested.load(ordering: .relaxed) &+ bytesRequested, ordering: .relaxed) }
        if inPlaceBytes != 0 { self.inPlaceBytes.store(self.inPlaceBytes.load(ordering: .relaxed) &+ inPlaceBytes, ordering: .relaxed) }
        if logBytes != 0 { self.logBytes.store(self.logBytes.load(ordering: .relaxed) &+ logBytes, ordering: .relaxed) }
        if appliedBytes != 0 { self.appliedBytes.store(self.appliedBytes.load(ordering: .relaxed) &+ appliedBytes, ordering: .relaxed) }
        if remapBytes != 0 { self.remapBytes.store(self.remapBytes.load(ordering: .relaxed) &+ remapBytes, ordering: .relaxed) }
        if remaps != 0 { self.remaps.store(self.remaps.load(ordering: .relaxed) &+ remaps, ordering: .relaxed) }
        if fences != 0 { self.fences.store(self.fences.load(ordering: .relaxed) &+ fences, ordering: .relaxed) }
    }

    /// Keeps the next lane's counters off these cache lines.
    private let padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
}
