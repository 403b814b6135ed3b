import CLinux
import CPMem2
import Glibc
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
import SystemPackage
import PMemTestSupport
import Testing

@Suite("Mapping errors: each bad input gets its own clear error, never a crash")
struct MappingErrorTests {
    @Test("a missing file is fileNotFound, with the path and ENOENT")
    func missingFile() throws {
        let scratch = Scratch()
        let path = scratch.path("nope")
        let error = #expect(throws: PMemError.self) { _ = try Mapping(path: path) }
        #expect(error?.code == .fileNotFound)
        #expect(error?.path == path)
        #expect(error?.errno == .noSuchFileOrDirectory)
    }

    @Test("a directory is notARegularFile, read-only or read-write", arguments: [MappingAccess.readOnly, .readWrite])
    func directory(access: MappingAccess) throws {
        let scratch = Scratch()
        let error = #expect(throws: PMemError.self) { _ = try Mapping(path: scratch.directory, access: access) }
        #expect(error?.code == .notARegularFile)
        #expect(error?.path == scratch.directory)
    }

    @Test("an empty file is emptyFile, and the message says to give it a size")
    func emptyFile() throws {
        let scratch = Scratch()
        let path = scratch.file("empty", count: 0)
        let error = #expect(throws: PMemError.self) { _ = try Mapping(path: path) }
        #expect(error?.code == .emptyFile)
        #expect(error?.message.contains("give it a size") == true)
    }

    @Test("an unaligned offset is refused up front with the required alignment")
    func unalignedOffset() throws {
        let scratch = Scratch()
        let path = scratch.file("f", count: 3 * 4096)
        let error = #expect(throws: PMemError.self) { _ = try Mapping(path: path, fileRange: 100..<4096) }
        #expect(error?.code == .unalignedOffset)
        #expect(error?.requiredAlignment == 4096)
        #expect(error?.fileOffset == 100)
    }

    @Test("an unaligned mapping length is refused up front with the required alignment")
    func unalignedLength() throws {
        let scratch = Scratch()
        let path = scratch.file("f", count: 3 * 4096)
        let error = #expect(throws: PMemError.self) { _ = try Mapping(path: path, fileRange: 4096..<(4096 + 100)) }
        #expect(error?.code == .unalignedLength)
        #expect(error?.requiredAlignment == 4096)
        #expect(error?.libpmem2 == nil)
    }

    @Test("a range past the end of the file is outOfBounds")
    func rangePastEnd() throws {
        let scratch = Scratch()
        let path = scratch.file("f", count: 4096)
        let error = #expect(throws: PMemError.self) { _ = try Mapping(path: path, fileRange: 0..<8192) }
        #expect(error?.code == .outOfBounds)
    }

    @Test("a descriptor opened read-only cannot be mapped for writing, but can be mapped read-only")
    func readOnlyDescriptor() throws {
        let scratch = Scratch()
        let fd = try FileDescriptor.open(scratch.file("ro", count: 4096), .readOnly)
        defer { try? fd.close() }
        let error = #expect(throws: PMemError.self) { _ = try Mapping(fileDescriptor: fd, access: .readWrite) }
        #expect(error?.code == .readOnly)
        let map = try Mapping(fileDescriptor: fd, access: .readOnly)
        #expect(try map.load(UInt8.self, at: 0) == 0)
    }

    @Test("an immutable (chattr +i) file cannot be mapped for writing, even by root")
    func immutableFile() throws {
        let scratch = Scratch()
        let path = scratch.file("immutable", count: 4096)
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { try? fd.close() }
        var flags: CInt = 0
        #expect(ioctl(fd.rawValue, clinux_FS_IOC_GETFLAGS, &flags) == 0)
        flags |= CInt(FS_IMMUTABLE_FL)
        if ioctl(fd.rawValue, clinux_FS_IOC_SETFLAGS, &flags) != 0 {
            try Skip.test(.needsRoot, "setting FS_IMMUTABLE_FL needs CAP_LINUX_IMMUTABLE (root) and ext4 or xfs: errno \(errno)")
        }
        defer { flags &= ~CInt(FS_IMMUTABLE_FL); _ = ioctl(fd.rawValue, clinux_FS_IOC_SETFLAGS, &flags) }
        let error = #expect(throws: PMemError.self) { _ = try Mapping(path: path, access: .readWrite) }
        #expect(error?.code == .permissionDenied)
        #expect(error?.errno == .notPermitted)
        #expect(error?.path == path)
        // Reading it is still fine.
        _ = try Mapping(path: path, access: .readOnly)
    }

    @Test("a permission failure of open(2) carries EACCES, the path and the operation")
    func injectedPermissionDenied() throws {
        let scratch = Scratch()
        let path = scratch.file("f", count: 4096)
        let error = Syscalls.$injectedFault.withValue(InjectedFault(call: .open, errno: .permissionDenied)) {
            #expect(throws: PMemError.self) { _ = try Mapping(path: path) }
        }
        #expect(error?.code == .permissionDenied)
        #expect(error?.errno == .permissionDenied)
        #expect(error?.description.contains("opening the file to map") == true)
    }

    @Test("stores through a read-only mapping are refused with readOnly")
    func storeToReadOnlyMapping() throws {
        let scratch = Scratch()
        let map = try Mapping(path: scratch.file("f", count: 4096), access: .readOnly)
        #expect(map.access == .readOnly)
        let error = #expect(throws: PMemError.self) { try map.store(UInt64(1), at: 0) }
        #expect(error?.code == .readOnly)
        #expect(throws: PMemError.self) { try map.set(1, in: 0..<10) }
        #expect(throws: PMemError.self) { try [UInt8(1)].withUnsafeBytes { try map.copy(from: $0, to: 0) } }
        #expect(try map.load(UInt64.self, at: 0) == 0)
    }

    @Test("every out-of-range access is outOfBounds and touches nothing",
          arguments: [-1, 4089, 4096, Int.max - 2, Int.max, Int.min])
    func outOfRange(offset: Int) throws {
        let scratch = Scratch(on: "/dev/shm")
        // A mapping that starts at file offset 4096, so error reports add offsets.
        let map = try Mapping(path: scratch.file("f", count: 8192), fileRange: 4096..<8192)
        #expect(throws: PMemError.self) { try map.load(UInt64.self, at: offset) }
        #expect(throws: PMemError.self) { try map.store(UInt64(1), at: offset) }
        let error = #expect(throws: PMemError.self) { try map.set(0, in: offset..<max(offset, 4097)) }
        #expect(error?.code == .outOfBounds)
        #expect(throws: PMemError.self) { try map.persist(offset..<max(offset, 4097)) }
        #expect(throws: PMemError.self) { try map.move(from: offset, to: 0, count: 8) }
        #expect(throws: PMemError.self) { try map.move(from: 0, to: offset, count: 8) }
        #expect(throws: PMemError.self) { try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try map.copy(from: $0, to: offset) } }
        #expect(throws: PMemError.self) { try map.flush(0..<4097) }
        #expect(throws: PMemError.self) { try map.deepFlush(0..<4097) }
        #expect(throws: PMemError.self) { try map.set(0, in: 4000..<4097) }
        #expect(throws: PMemError.self) { try map.move(from: 4000, to: 0, count: 97) }
        #expect(throws: PMemError.self) { try map.move(from: 0, to: 4000, count: 97) }
        #expect(map.withUnsafeBytes { $0.allSatisfy { $0 == 0 } })
    }

    @Test("cache-line granularity on a file not on DAX says so and says how to emulate it",
          .enabled(if: getenv("PMEM2_FORCE_GRANULARITY") == nil, "PMEM2_FORCE_GRANULARITY is set for the whole test run"))
    func cacheLineOnNonDAX() throws {
        let scratch = Scratch()
        let path = scratch.file("f", count: 4096)
        let error = #expect(throws: PMemError.self) { _ = try Mapping(path: path, requiredGranularity: .cacheLine) }
        #expect(error?.code == .granularityNotSupported)
        #expect(error?.message.contains("not on DAX") == true)
        #expect(error?.message.contains("PMEM2_FORCE_GRANULARITY=CACHE_LINE") == true)
        #expect(error?.message.contains("its store granularity is page") == true)
    }

    @Test("bad blocks of a file not on pmem: a clear notSupported, not an empty list")
    func badBlocksOffPMem() throws {
        let scratch = Scratch()
        let map = try Mapping(path: scratch.file("f", count: 4096))
        do {
            let blocks = try map.badBlocks()
            Issue.record("expected notSupported off pmem, got \(blocks)")
        } catch {
            #expect(error.code == .notSupported)
        }
    }

    @Test("every libpmem2 error code of 1.12 maps to a specific code, not the catch-all")
    func everyLibPMem2CodeIsMapped() {
        let all: [Int32] = Array(PMEM2_E_IO_FAIL...PMEM2_E_UNKNOWN).filter { $0 != -100002 && $0 != PMEM2_E_UNKNOWN }
        #expect(all.count == 36)
        for rc in all {
            #expect(PMemError.classify(rc).0 != .libpmem2Failure, "PMEM2 error \(rc) is not mapped")
        }
        #expect(PMemError.classify(PMEM2_E_UNKNOWN).0 == .libpmem2Failure)
    }

    @Test("system errors map to the codes a caller can act on",
          arguments: [(Errno.noSuchFileOrDirectory, PMemError.Code.fileNotFound), (.permissionDenied, .permissionDenied),
                      (.notPermitted, .permissionDenied), (.readOnlyFileSystem, .readOnly), (.noSpace, .noSpace),
                      (.diskQuotaExceeded, .noSpace), (.fileExists, .fileExists), (.tooManySymbolicLinkLevels, .symbolicLink),
                      (.isDirectory, .notARegularFile), (.ioError, .ioFailure), (.notSupported, .notSupported),
                      (.badFileDescriptor, .invalidArgument), (.fileTooLarge, .invalidArgument), (.tooManyOpenFiles, .systemCallFailed)])
    func errnoMapping(errno: Errno, code: PMemError.Code) {
        let error = PMemError.system(errno, "doing something", path: "/x")
        #expect(error.code == code)
        #expect(error.errno == errno)
        #expect(error.path == "/x")
    }

    @Test("a negated errno from libpmem2 becomes the errno's code, with the errno kept")
    func negatedErrno() {
        let error = PMemError.libpmem2(-EACCES, "mapping")
        #expect(error.code == .permissionDenied)
        #expect(error.errno == .permissionDenied)
        #expect(error.libpmem2?.code == -EACCES)
    }
}
