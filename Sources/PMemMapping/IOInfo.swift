import PMemSystem
/// How durable the stores to a mapping really are.
public enum PersistenceDomain: Sendable, Hashable, CustomStringConvertible {
    /// DAX: a file on an fsdax file system mapped with `MAP_SYNC`, or a
    /// device-DAX device. A userspace cache flush (or nothing, with eADR)
    /// makes stores durable. Real persistence.
    case dax
    /// The page cache: `persist` calls `msync`. Real persistence, page granularity.
    case msync
    /// A file system that lives in memory only (tmpfs, ramfs): `persist`
    /// calls `msync`, which keeps the crash protocol's order for a process
    /// that dies, but nothing survives a power failure or a reboot.
    /// **Not durable**.
    case memoryOnly
    /// A granularity finer than the file really has, forced with
    /// `PMEM2_FORCE_GRANULARITY`: cache-line or byte granularity on a file
    /// that is not on DAX (or byte granularity forced on DAX, where eADR may
    /// be missing). libpmem2 then skips `msync`. For tests and benchmarks
    /// only; **not durable**.
    case forcedForTesting(StoreGranularity)

    /// Whether a completed `persist` really makes data durable.
    public var isDurable: Bool {
        switch self {
        case .dax, .msync: true
        case .memoryOnly, .forcedForTesting: false
        }
    }

    /// A short description, e.g. `"msync (page cache)"`.
    public var description: String {
        switch self {
        case .dax: "DAX (MAP_SYNC or device DAX; userspace flush)"
        case .msync: "msync (page cache)"
        case .memoryOnly: "msync on a memory-only file system (tmpfs or ramfs: lost at power off or reboot)"
        case .forcedForTesting(let g): "forced \(g) granularity by PMEM2_FORCE_GRANULARITY (testing only, not durable)"
        }
    }
}

/// The I/O facts of a mapped object: the `F_IOINFO` report of the 2017
/// O_ATOMIC series, for persistent memory.
public struct IOInfo: Sendable, Hashable, CustomStringConvertible {
    /// The alignment that mapping offsets and lengths must have (the page size
    /// for files, the device alignment for device DAX).
    public var mappingAlignment: Int
    /// The store granularity of the mapping.
    public var storeGranularity: StoreGranularity
    /// The largest store the hardware makes failure-atomic: 8 bytes on x86.
    public var hardwareAtomicUnit: Int
    /// The alignment a store needs to be failure-atomic: 8 bytes on x86.
    public var hardwareAtomicAlignment: Int
    /// The largest write this object makes failure-atomic. For a plain mapping
    /// it is the hardware unit; failure-atomic pools report their own.
    public var maxAtomicWrite: Int
    /// Whether persistence is real, and by which mechanism.
    public var persistence: PersistenceDomain
    /// The kernel's own atomic-write limits for the file (`statx`
    /// `STATX_WRITE_ATOMIC`, for `pwritev2(RWF_ATOMIC)`), or why it offers
    /// none: a kernel older than 6.11, a file system without them, or DAX.
    /// Reported beside ``maxAtomicWrite`` for comparison only: on a sealed
    /// file the kernel's atomic write is not for use, because xfs performs it
    /// by copy-on-write remap, which changes the block map, breaks the seal
    /// and stales the extents handed to a device.
    public var kernelAtomicWrite: KernelAtomicWrite

    /// The hardware failure-atomic unit of this CPU architecture (8 bytes, 8-aligned, on x86-64).
    public static let hardwareAtomicUnit = 8

    /// Creates an I/O report.
    public init(
        mappingAlignment: Int, storeGranularity: StoreGranularity,
        hardwareAtomicUnit: Int = IOInfo.hardwareAtomicUnit,
        hardwareAtomicAlignment: Int = IOInfo.hardwareAtomicUnit,
        maxAtomicWrite: Int = IOInfo.hardwareAtomicUnit, persistence: PersistenceDomain,
        kernelAtomicWrite: KernelAtomicWrite = .notQueried
    ) {
        self.mappingAlignment = mappingAlignment
        self.storeGranularity = storeGranularity
        self.hardwareAtomicUnit = hardwareAtomicUnit
        self.hardwareAtomicAlignment = hardwareAtomicAlignment
        self.maxAtomicWrite = maxAtomicWrite
        self.persistence = persistence
        self.kernelAtomicWrite = kernelAtomicWrite
    }

    /// One line per fact, for logs and the command line.
    public var description: String {
        """
        mapping alignment:     \(mappingAlignment) bytes
        store granularity:     \(storeGranularity)
        hardware atomic unit:  \(hardwareAtomicUnit) bytes, \(hardwareAtomicAlignment)-aligned
        largest atomic write:  \(maxAtomicWrite) bytes
        persistence:           \(persistence)\(persistence.isDurable ? "" : " -- NOT DURABLE")
        kernel atomic write:   \(kernelAtomicWrite)
        """
    }
}
