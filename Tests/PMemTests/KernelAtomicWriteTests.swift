import CLinux
import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// The kernel's own atomic-write facts (`statx` `STATX_WRITE_ATOMIC`) in
/// ``IOInfo/kernelAtomicWrite`` and `pmemctl info --json`, on a loop xfs with
/// reflink (which offers them from Linux 6.16 on, by copy-on-write), tmpfs
/// and ext4 (which do not here); and what a kernel atomic write does to a
/// sealed file. Serialized: loop devices are few. Every skip names the
/// kernel release, since what the kernel offers depends on it.
@Suite("The kernel's atomic-write facts (statx STATX_WRITE_ATOMIC)", .serialized)
struct KernelAtomicWriteTests {
    static let release = KernelAtomicWrite.kernelRelease
    static let note = "kernel \(release)"

    static func xfs(options: [String] = []) throws -> LoopMount {
        try LoopMount(mkfs: ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"], options: options, skipNote: note)
    }

    /// The report for a file, through a mapping as a user gets it.
    static func report(_ path: FilePath) throws -> KernelAtomicWrite {
        try Mapping(path: path, access: .readOnly).ioInfo.kernelAtomicWrite
    }

    /// The limits xfs offers, or the test is cancelled saying why the
    /// machine cannot show them (an older kernel, or one before xfs's
    /// copy-on-write atomic writes of 6.16).
    static func offeredLimits(_ path: FilePath) throws -> KernelAtomicWrite.Limits {
        let report = try report(path)
        guard let limits = report.limits else {
            // Before 6.16 the kernel cannot; from 6.16 on, not offering is a
            // missing feature CI must not pass over.
            let (major, minor) = kernelVersion(release)
            try Skip.test((major, minor) < (6, 16) ? .kernelVersion : .missingKernelFeature,
                          "xfs with reflink offers no atomic writes here: \(report) (they need Linux 6.16+; \(note))")
        }
        return limits
    }

    @Test("a loop xfs with reflink offers atomic writes from one block up (1 MiB by default on 6.16+)")
    func xfsOffers() throws {
        let fs = try Self.xfs()
        let path = fs.path("f")
        try SealedFile.create(at: path, size: 4 << 20)
        let limits = try Self.offeredLimits(path)
        #expect(limits.unitMin == 4096)
        #expect(limits.unitMax >= 4096)
        #expect(limits.unitMax.nonzeroBitCount == 1, "a power of two: \(limits.unitMax)")
        #expect(limits.maxSegments >= 1)
        if let optimized = limits.unitMaxOptimized { #expect(optimized <= limits.unitMax) }
        let text = "\(try Mapping(path: path, access: .readOnly).ioInfo)"
        #expect(text.contains("kernel atomic write:   unit 4096..\(limits.unitMax) bytes"), "\(text)")
    }

    @Test("mounted -o max_atomic_write=4m, the loop xfs offers up to 4 MiB")
    func xfsMaxAtomicWriteOption() throws {
        let fs = try Self.xfs(options: ["max_atomic_write=4m"])
        let path = fs.path("f")
        try SealedFile.create(at: path, size: 8 << 20)
        let limits = try Self.offeredLimits(path)
        #expect(limits.unitMin == 4096)
        #expect(limits.unitMax == 4 << 20)
    }

    @Test("pmemctl info --json on the loop xfs shows the kernel's limits beside ours")
    func pmemctlJSON() throws {
        let fs = try Self.xfs()
        let path = fs.path("f")
        try SealedFile.create(at: path, size: 1 << 20)
        let limits = try Self.offeredLimits(path)
        let info = try PMemCtlTests.run("info", path.string, "--json").json()
        #expect(info["kernel_atomic_write"] as? String == "offered")
        #expect(info["kernel_atomic_write_unit_min"] as? Int == limits.unitMin)
        #expect(info["kernel_atomic_write_unit_max"] as? Int == limits.unitMax)
        #expect(info["kernel_atomic_write_unit_max_opt"] as? Int == limits.unitMaxOptimized ?? 0)
        #expect(info["kernel_atomic_write_segments_max"] as? Int == limits.maxSegments)
        #expect(info["kernel_release"] as? String == Self.release)
        #expect(info["max_atomic_write"] as? Int == 8, "ours stays the hardware's for a plain file")
    }

    @Test("a kernel atomic write (O_DIRECT pwritev2 RWF_ATOMIC) into a sealed xfs file remaps its blocks: the seal check refuses the file")
    func atomicWriteBreaksTheSeal() throws {
        let fs = try Self.xfs()
        let path = fs.path("sealed")
        let sealed = try SealedFile.create(at: path, size: 4 << 20)
        #expect(sealed.extents.isVerified)
        let limits = try Self.offeredLimits(path)
        let length = 64 << 10
        try #require(limits.unitMin <= length && length <= limits.unitMax, "\(limits)")

        let fd = Glibc.open(path.string, O_RDWR | clinux_O_DIRECT)
        try #require(fd >= 0, "open O_DIRECT: errno \(errno)")
        defer { _ = Glibc.close(fd) }
        var buffer: UnsafeMutableRawPointer?
        try #require(posix_memalign(&buffer, 4096, length) == 0)
        defer { free(buffer) }
        memset(buffer!, 0xA7, length)
        var vector = iovec(iov_base: buffer, iov_len: length)
        let written = pwritev2(fd, &vector, 1, off_t(length), clinux_RWF_ATOMIC)
        if written < 0 {
            let error = errno
            // statx and the write contradict each other: a failure, never a skip.
            Issue.record("pwritev2(RWF_ATOMIC) failed with errno \(error) (\(String(cString: strerror(error)))) although statx offers \(limits) (\(Self.note))")
            return
        }
        #expect(written == length)

        let error = #expect(throws: PMemError.self) { _ = try SealedFile.open(path) }
        #expect(error?.code == .extentMapChanged, "\(String(describing: error))")
        #expect(Array(readFile(path)[length..<2 * length]) == [UInt8](repeating: 0xA7, count: length))
    }

    @Test("tmpfs (/dev/shm) offers none, and says why")
    func tmpfsOffersNone() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.file("f", count: 65536)
        let report = try Self.report(path)
        #expect(!report.isOffered)
        #expect(report.limits == nil)
        if KernelAtomicWrite.reportsAtomicWrite(release: Self.release) {
            #expect(report == .notOnThisFileSystem(fileSystem: "tmpfs", release: Self.release))
        } else {
            #expect(report == .kernelTooOld(release: Self.release))
        }
        #expect(report.description.hasPrefix("not offered: "))
        #expect(report.description.contains(Self.release))
        let info = try PMemCtlTests.run("info", path.string, "--json").json()
        #expect(["not_on_this_file_system", "kernel_too_old"].contains(info["kernel_atomic_write"] as? String))
        #expect(info["kernel_atomic_write_unit_max"] as? Int == 0)
    }

    @Test("a loop ext4 (no atomic-write support in the loop device) offers none, and says why")
    func ext4OffersNone() throws {
        let fs = try LoopMount(mkfs: ["mkfs.ext4", "-q", "-F"], skipNote: Self.note)
        let path = fs.path("f")
        try SealedFile.create(at: path, size: 1 << 20)
        let report = try Self.report(path)
        if report.isOffered {
            try Skip.test(.deviceOffersMore, "this loop device lets ext4 offer atomic writes (\(report)); the no-offer case cannot be shown (\(Self.note))")
        }
        if KernelAtomicWrite.reportsAtomicWrite(release: Self.release) {
            #expect(report == .notOnThisFileSystem(fileSystem: "ext4", release: Self.release))
        } else {
            #expect(report == .kernelTooOld(release: Self.release))
        }
        #expect(report.description.contains(Self.release))
    }

    @Test("releases before 6.11 are too old for STATX_WRITE_ATOMIC", arguments: [
        ("6.1.0-28-amd64", false), ("5.15.0", false), ("6.10.14", false), ("6.11.0", true),
        ("6.18.44-fc-v669", true), ("7.0", true), ("weird", true),
    ])
    func releaseParsing(release: String, reports: Bool) {
        #expect(KernelAtomicWrite.reportsAtomicWrite(release: release) == reports)
    }

    @Test("a hand-made IOInfo says it did not ask the kernel")
    func handMade() {
        let info = IOInfo(mappingAlignment: 4096, storeGranularity: .page, persistence: .msync)
        #expect(info.kernelAtomicWrite == .notQueried)
        #expect(!info.kernelAtomicWrite.isOffered)
    }
}
