import CLinux
import Glibc
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// A loop-mounted xfs with reflink, for shared extents and for the seal
/// surviving unmount and mount. Serialized: each test mounts its own image,
/// and loop devices are few.
@Suite("Sealed files on a loop-mounted xfs with reflink", .serialized)
struct SealedFileXFSTests {
    static func xfs() throws -> LoopMount {
        try LoopMount(mkfs: ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"])
    }

    @Test("FICLONE of a sealed file makes both files refuse to open as sealed (SHARED extents)")
    func reflinkBreaksTheSeal() throws {
        let fs = try Self.xfs()
        let original = fs.path("sealed")
        let clone = fs.path("clone")
        let report = try SealedFile.create(at: original, size: 4 << 20)
        #expect(report.fileSystem == "xfs")
        #expect(report.extents.isVerified)

        let source = try FileDescriptor.open(original, .readOnly)
        let destination = try FileDescriptor.open(clone, .readWrite, options: [.create], permissions: .ownerReadWrite)
        let rc = ioctl(destination.rawValue, clinux_FICLONE, source.rawValue)
        try source.close()
        try destination.close()
        try #require(rc == 0, "FICLONE failed: errno \(errno)")

        let originalError = #expect(throws: PMemError.self) { _ = try SealedFile.open(original) }
        #expect(originalError?.code == .sharedExtent)
        #expect(originalError?.fileOffset == 0)
        let cloneError = #expect(throws: PMemError.self) { _ = try SealedFile.open(clone) }
        #expect(cloneError?.code == .notSealed)
        let sealClone = #expect(throws: PMemError.self) { try SealedFile.seal(clone) }
        #expect(sealClone?.code == .sharedExtent)
        let verifyClone = #expect(throws: PMemError.self) { try SealedFile.verify(clone) }
        #expect(verifyClone?.code == .sharedExtent)

        // Once the clone is gone the blocks are the original's alone again,
        // exactly as sealed: the seal holds. xfs drops the reference in the
        // background (inode GC) until the file system is synced.
        #expect(unlink(clone.string) == 0)
        // sync() usually suffices; under load the inode GC can still be
        // queued after it returns, so wait for it (bounded: 10 s).
        var extents: [PhysicalExtent]?
        for _ in 0..<100 {
            sync()
            do {
                let file = try SealedFile.open(original)
                extents = file.physicalExtents
                break
            } catch {
                guard error.code == .sharedExtent else { throw error }
                usleep(100_000)
            }
        }
        #expect(extents != nil, "the clone's unlink never released the shared extents")
        #expect(extents == report.physicalExtents)
    }

    @Test("seal, unmount, mount: the seal and the extent map are still there and verify")
    func sealSurvivesRemount() throws {
        let fs = try Self.xfs()
        let path = fs.path("pool")
        let sealed = try SealedFile.create(at: path, size: 8 << 20)
        let unsealedPath = fs.path("unsealed")
        try SealedFile.create(at: unsealedPath, size: 1 << 20)
        try SealedFile.unseal(unsealedPath)

        try fs.unmount()
        try fs.mount()

        let file = try SealedFile.open(path)
        #expect(file.report.isSealed)
        #expect(file.physicalExtents == sealed.physicalExtents)
        #expect(try SealedFile.verify(path).isSealed)
        let error = #expect(throws: PMemError.self) { _ = try SealedFile.open(unsealedPath) }
        #expect(error?.code == .notSealed)
    }

    @Test("data persisted through a sealed mapping is there after unmount and mount")
    func dataSurvivesRemount() throws {
        let fs = try Self.xfs()
        let path = fs.path("pool")
        try SealedFile.create(at: path, size: 1 << 20)
        do {
            let map = try SealedFile.open(path).map()
            try map.store(UInt64(0xFEED_FACE_CAFE_BEEF), at: 4096)
            try map.persist(4096..<4104)
        }
        try fs.unmount()
        try fs.mount()
        let map = try SealedFile.open(path).map(access: .readOnly)
        #expect(try map.load(UInt64.self, at: 4096) == 0xFEED_FACE_CAFE_BEEF)
    }
}
