import PMemSystem
import PMemMapping
import PMemSealing
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
    /// Chunks homed to make room in the spare region or the mapping budget
    /// (docs/FORMAT.md, "Chunk placement"); counted in `remaps`, `remapBytes`
    /// and `fences` too, not in `commits`.
    public var homings: Int = 0

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
