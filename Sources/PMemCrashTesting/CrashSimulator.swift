public import PMem
public import SystemPackage

/// Crash-test your own persistent-memory code the way swift-pmem tests its
/// pools: a simulated x86 ADR persistence domain.
///
/// Map a file through the simulator; your code stores into the mapping and
/// calls ``/PMemMapping/Mapping/persist(_:)``, ``/PMemMapping/Mapping/flush(_:)``,
/// ``/PMemMapping/Mapping/drain()`` and the copy functions as usual. The simulator
/// keeps what would survive a power cut (``durableBytes``): a cache line gets
/// there only when it is flushed and a fence follows. At every fence
/// ``onFence`` runs, and ``crashImages(mixes:structured:seed:)`` gives the
/// states a crash at that moment could leave: only what was fenced,
/// everything, random mixes at 8-byte granularity and of flushed lines, and
/// the structured states random mixes almost never give (each flushed line
/// alone, all but one, a large non-temporal copy one word short). Run your recovery
/// on each image and check what it must guarantee.
///
/// ```swift
/// let sim = CrashSimulator()
/// let map = try sim.map(path: "/dev/shm/log")
/// sim.onFence = { sim in
///     for image in sim.crashImages(seed: 1) { #expect(myRecovery(image).isConsistent) }
/// }
/// try myAppend(record, to: map)
/// ```
///
/// For tests only: nothing written through a simulator's mapping is treated
/// differently on the real file, but the flushes it asks for are not issued.
public final class CrashSimulator: @unchecked Sendable {
    let domain = SimulatedPersistenceDomain()

    /// Creates a simulator.
    public init() {}

    /// Maps the file at `path` read-write, with its flushes and fences routed
    /// to this simulator, and starts modelling its memory: its current
    /// contents count as durable.
    public func map(path: FilePath) throws(PMemError) -> Mapping {
        let mapping = try Mapping(path: path, access: .readWrite, routedTo: domain.calls)
        mapping.withUnsafeBytes { domain.attach(base: $0.baseAddress!, size: $0.count) }
        return mapping
    }

    /// Called at every fence, before the lines flushed since the previous
    /// fence become durable: the moment to look at crash images.
    public var onFence: ((CrashSimulator) -> Void)? {
        didSet {
            let callback = onFence
            domain.beforeFence = callback.map { f in { [unowned self] _ in f(self) } }
        }
    }

    /// What would survive a power cut now.
    public var durableBytes: [UInt8] { domain.media }

    /// The fences seen so far.
    public var fences: Int { domain.fences }

    /// The crash images of this moment: the durable bytes, everything
    /// stored, `mixes` random 8-byte-granular mixes of the two, and `mixes`
    /// random subsets of the flushed-but-unfenced lines; and the states random
    /// mixes almost never give: each flushed line alone, all but one, the
    /// first ones in flush order, a large non-temporal copy one word short,
    /// all stored words but one (at most `structured` of each kind). Seeded,
    /// so that a failure can be replayed.
    public func crashImages(mixes: Int = 16, structured: Int = 4, seed: UInt64) -> [[UInt8]] {
        var generator = SeededGenerator(state: seed)
        return domain.crashImages(mixes: mixes, structured: structured, using: &generator)
    }
}
