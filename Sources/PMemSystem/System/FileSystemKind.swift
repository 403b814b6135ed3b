import CLinux

/// The file systems sealing treats specially, by `statfs.f_type` (the
/// magic numbers of `<linux/magic.h>`).
package enum FileSystemKind {
    package static let ext4 = Int(EXT4_SUPER_MAGIC)
    package static let xfs = Int(XFS_SUPER_MAGIC)
    package static let btrfs = Int(BTRFS_SUPER_MAGIC)
    package static let tmpfs = Int(TMPFS_MAGIC)
    package static let ramfs = Int(RAMFS_MAGIC)

    /// Whether a file system keeps its files in memory only (nothing survives a reboot).
    package static func isMemoryOnly(_ magic: Int) -> Bool { magic == tmpfs || magic == ramfs }

    /// A name for messages.
    package static func name(_ magic: Int) -> String {
        switch magic {
        case ext4: "ext4"
        case xfs: "xfs"
        case btrfs: "btrfs"
        case tmpfs: "tmpfs"
        case ramfs: "ramfs"
        case Int(V9FS_MAGIC): "9p"
        case Int(NFS_SUPER_MAGIC): "nfs"
        case Int(F2FS_SUPER_MAGIC): "f2fs"
        default: "file system 0x" + String(magic, radix: 16)
        }
    }
}
