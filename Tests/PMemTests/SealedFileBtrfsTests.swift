import CLinux
import Glibc
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// A loop-mounted btrfs: copy-on-write by default, so sealing needs no-CoW
/// files made so while empty.
@Suite("Sealed files on a loop-mounted btrfs", .serialized)
struct SealedFileBtrfsTests {
    static func btrfs() throws -> LoopMount {
        try LoopMount(mkfs: ["mkfs.btrfs", "-q", "-f"], sizeMiB: 256)
    }

    static func attributes(_ path: FilePath) throws -> CInt {
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { try? fd.close() }
        var flags: CInt = 0
        #expect(ioctl(fd.rawValue, clinux_FS_IOC_GETFLAGS, &flags) == 0)
        return flags
    }

    @Test("create makes the file no-CoW before allocating, and the seal verifies")
    func createIsNoCoW() throws {
        let fs = try Self.btrfs()
        let path = fs.path("pool")
        let report = try SealedFile.create(at: path, size: 4 << 20)
        #expect(report.fileSystem == "btrfs")
        #expect(report.extents.isVerified)
        #expect(try Self.attributes(path) & CInt(FS_NOCOW_FL) != 0)
        let file = try SealedFile.open(path)
        #expect(file.physicalExtents.reduce(0) { $0 + $1.length } >= 4 << 20)
    }

    @Test("a fully written copy-on-write file is refused with copyOnWrite")
    func copyOnWriteRefused() throws {
        let fs = try Self.btrfs()
        let path = fs.path("cow")
        let fd = try FileDescriptor.open(path, .readWrite, options: [.create], permissions: .ownerReadWrite)
        _ = try fd.writeAll(toAbsoluteOffset: 0, [UInt8](repeating: 1, count: 1 << 20))
        try fd.close()
        let error = #expect(throws: PMemError.self) { try SealedFile.seal(path) }
        #expect(error?.code == .copyOnWrite)
    }
}
