import PMemSystem
import PMemMapping
import CLinux

/// The flags `FIEMAP` reports for an extent (`FIEMAP_EXTENT_*`).
public struct ExtentFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The bits, as the kernel defines them in `linux/fiemap.h`.
    public let rawValue: UInt32
    /// Creates flags from the kernel's bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The last extent of the file.
    public static let last = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_LAST))
    /// The location of the data is not known.
    public static let unknown = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_UNKNOWN))
    /// Delayed allocation: no blocks yet.
    public static let delayedAllocation = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_DELALLOC))
    /// The data is encoded (compressed, encrypted…); reading it directly gives garbage.
    public static let encoded = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_ENCODED))
    /// The data is encrypted.
    public static let encrypted = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_DATA_ENCRYPTED))
    /// The extent's offsets are not block-aligned.
    public static let notAligned = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_NOT_ALIGNED))
    /// The data lives inside file-system metadata.
    public static let inline = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_DATA_INLINE))
    /// The data is packed into a block with other files' data.
    public static let tail = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_DATA_TAIL))
    /// Allocated but not written: reads return zeros, the first write changes the block map.
    public static let unwritten = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_UNWRITTEN))
    /// The file system merged several extents into this report.
    public static let merged = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_MERGED))
    /// The blocks are shared with another file (reflink): the next write copies them.
    public static let shared = ExtentFlags(rawValue: UInt32(FIEMAP_EXTENT_SHARED))

    /// Flags that describe the report rather than the blocks; ignored when
    /// comparing extent maps.
    package static let reportingOnly: ExtentFlags = [.last, .merged]

    package static let names: [(ExtentFlags, String)] = [
        (.last, "last"), (.unknown, "unknown"), (.delayedAllocation, "delalloc"), (.encoded, "encoded"),
        (.encrypted, "encrypted"), (.notAligned, "not-aligned"), (.inline, "inline"), (.tail, "tail"),
        (.unwritten, "unwritten"), (.merged, "merged"), (.shared, "shared"),
    ]

    /// The flag names, comma-separated (`"last,merged"`), or `"none"`.
    public var description: String {
        let set = Self.names.filter { contains($0.0) }.map(\.1)
        return set.isEmpty ? "none" : set.joined(separator: ",")
    }
}

/// One extent of a file: where a run of the file's bytes lives on the device.
///
/// For DMA users: ``physicalOffset`` is the byte offset on the block device
/// that holds the file system (for fsdax, on `/dev/pmemN`) on ext4 and xfs;
/// on btrfs it is an offset in btrfs's own logical address space. The kernel does
/// **not** enforce that a sealed file's extents stay put; the seal is a
/// promise this library checks on every open. On DAX, `MAP_SYNC` keeps a
/// mapping safe at fault time; a device doing DMA has no such guard, so
/// re-check the seal (open the file again) before handing extents to one.
public struct PhysicalExtent: Sendable, Hashable, CustomStringConvertible {
    /// The offset of the extent in the file.
    public var logicalOffset: Int
    /// The offset of the extent on the device.
    public var physicalOffset: Int
    /// The length of the extent in bytes.
    public var length: Int
    /// The extent's flags.
    public var flags: ExtentFlags

    /// Creates an extent record.
    public init(logicalOffset: Int, physicalOffset: Int, length: Int, flags: ExtentFlags) {
        self.logicalOffset = logicalOffset
        self.physicalOffset = physicalOffset
        self.length = length
        self.flags = flags
    }

    /// `file [start, end) -> device [start, end) flags`.
    public var description: String {
        "file [\(logicalOffset), \(logicalOffset + length)) -> device [\(physicalOffset), \(physicalOffset + length)) \(flags)"
    }
}
