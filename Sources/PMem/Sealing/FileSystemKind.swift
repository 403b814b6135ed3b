/// The file systems sealing treats specially, by `statfs.f_type`.
enum FileSystemKind {
    static let ext4 = 0xEF53
    static let xfs = 0x5846_5342
    static let btrfs = 0x9123_683E
    static let tmpfs = 0x0102_1994

    static func name(_ magic: Int) -> String {
        switch magic {
        case ext4: "ext4"
        case xfs: "xfs"
        case btrfs: "btrfs"
        case tmpfs: "tmpfs"
        case 0x0102_1997: "9p"
        case 0x6969: "nfs"
        case 0xF2F5_2010: "f2fs"
        default: "file system 0x" + String(magic, radix: 16)
        }
    }
}
