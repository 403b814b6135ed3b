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

/// Whether the file system under `directory` stores user extended
/// attributes, found out by trying (tmpfs before Linux 6.6 does not).
func hasUserXattrs(_ directory: FilePath) -> Bool {
    let probe = directory.appending("xattr-probe")
    let fd = open(probe.string, O_CREAT | O_RDWR, 0o600)
    defer { close(fd); unlink(probe.string) }
    let value: [UInt8] = [1]
    return value.withUnsafeBytes { fsetxattr(fd, "user.swift-pmem.probe", $0.baseAddress, 1, 0) } == 0
}

func kernelRelease() -> String {
    var u = utsname()
    uname(&u)
    return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

/// The two homes of a seal (extended attribute, last page), on tmpfs and on
/// ext4, whichever kernel runs them: CI runs this suite on the host's kernel
/// and on Debian 12's 6.1 (where tmpfs has no user xattrs) in the VM.
@Suite("Seal placement: extended attribute or last page")
struct SealPlacementTests {
    static let bases = ["/dev/shm", ext4TestDirectory]

    @Test("the last-page form: the file is one page longer, the mapping and the report show only the user's bytes", arguments: bases)
    func lastPageCreate(base: String) throws {
        let scratch = Scratch(on: base)
        let path = scratch.path("sealed")
        let report = try SealedFile.create(at: path, size: 64 << 10, placement: .lastPage)
        #expect(report.placement == .lastPage)
        #expect(report.size == 64 << 10)
        #expect(readFile(path).count == (64 << 10) + 4096)
        // No extended attribute was written.
        #expect(getxattr(path.string, SealRecord.attributeName, nil, 0) < 0)
        let file = try SealedFile.open(path)
        #expect(file.report.isSealed && file.report.placement == .lastPage && file.report.size == 64 << 10)
        let map = try file.map()
        #expect(map.count == 64 << 10)
        try map.store(UInt64(0xFEED), at: (64 << 10) - 8)
        try map.persist(0..<(64 << 10))
        // The store landed in the user's bytes, not on the record.
        #expect(try SealedFile.verify(path).isSealed)
        let bytes = readFile(path)
        #expect(Array(bytes[(64 << 10)..<((64 << 10) + 8)]) == Array("PMEMSEAL".utf8))
        let error = #expect(throws: PMemError.self) { _ = try file.map(fileRange: 0..<((64 << 10) + 4096)) }
        #expect(error?.code == .outOfBounds)
    }

    @Test("automatic picks the extended attribute where the file system stores user xattrs, else the last page", arguments: bases)
    func automaticChoice(base: String) throws {
        let scratch = Scratch(on: base)
        let expected: SealPlacement = hasUserXattrs(scratch.directory) ? .extendedAttribute : .lastPage
        let report = try SealedFile.create(at: scratch.path("f"), size: 8192)
        #expect(report.placement == expected, "kernel \(kernelRelease()) on \(base)")
        #expect(readFile(scratch.path("f")).count == (expected == .lastPage ? 8192 + 4096 : 8192))
        #expect(try SealedFile.open(scratch.path("f")).report.placement == expected)
    }

    @Test("an extended-attribute seal asked for where none can be stored fails before a byte is written")
    func noXattrFailsFirst() throws {
        let scratch = Scratch(on: "/dev/shm")
        guard !hasUserXattrs(scratch.directory) else {
            try Skip.test(.kernelVersion, "tmpfs stores user xattrs on Linux \(kernelRelease()) (from 6.6 on); Debian 12's 6.1 in the VM runs this")
        }
        var calls = 0
        let error = #expect(throws: PMemError.self) {
            _ = try SealedFile.create(at: scratch.path("f"), size: 1 << 20, placement: .extendedAttribute) { _ in calls += 1 }
        }
        #expect(error?.code == .notSupported)
        #expect(calls == 0)
        #expect(!FileManager.default.fileExists(atPath: scratch.path("f").string))
    }

    @Test("sealing an existing file in its last page keeps its bytes, and unsealing removes the page", arguments: bases)
    func sealAndUnsealExisting(base: String) throws {
        let scratch = Scratch(on: base)
        let path = scratch.file("data", count: 8192, byte: 0x5A)
        let report = try SealedFile.seal(path, placement: .lastPage)
        #expect(report.isSealed && report.size == 8192 && report.placement == .lastPage)
        #expect(readFile(path).count == 12288)
        #expect(Array(readFile(path)[0..<8192]) == [UInt8](repeating: 0x5A, count: 8192))
        // Sealing again reuses the page rather than adding another.
        _ = try SealedFile.seal(path, placement: .lastPage)
        #expect(readFile(path).count == 12288)
        try SealedFile.unseal(path)
        #expect(readFile(path) == [UInt8](repeating: 0x5A, count: 8192))
        let error = #expect(throws: PMemError.self) { _ = try SealedFile.open(path) }
        #expect(error?.code == .notSealed)
    }

    @Test("a copy of a last-page-sealed file is not sealed (the record names another inode); sealing it again works", arguments: bases)
    func copyIsNotSealed(base: String) throws {
        let scratch = Scratch(on: base)
        let path = scratch.path("orig")
        try SealedFile.create(at: path, size: 8192, placement: .lastPage)
        let copy = scratch.path("copy")
        try FileManager.default.copyItem(atPath: path.string, toPath: copy.string)
        let error = #expect(throws: PMemError.self) { _ = try SealedFile.open(copy) }
        #expect(error?.code == .notSealed)
        #expect(error?.message.contains("copy") == true)
        let resealed = try SealedFile.seal(copy, placement: .lastPage)
        #expect(resealed.size == 8192)
        #expect(readFile(copy).count == 12288)
        #expect(try SealedFile.open(copy).report.isSealed)
    }

    @Test("a seal interrupted after its page was appended says so; seal finishes it, unseal undoes it", arguments: bases)
    func interruptedSeal(base: String) throws {
        let scratch = Scratch(on: base)
        let path = scratch.file("data", count: 4096, byte: 1)
        // What a crash between the two steps of a last-page seal leaves.
        let fd = open(path.string, O_RDWR)
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        _ = try SealedFile.reserveLastPage(fd, size: 4096, inode: UInt64(st.st_ino), path: path)
        let error = #expect(throws: PMemError.self) { _ = try SealedFile.open(path) }
        #expect(error?.code == .notSealed)
        #expect(error?.message.contains("interrupted") == true)
        try SealedFile.unseal(path)
        #expect(readFile(path) == [UInt8](repeating: 1, count: 4096))
        _ = try SealedFile.reserveLastPage(fd, size: 4096, inode: UInt64(st.st_ino), path: path)
        let sealed = try SealedFile.seal(path, placement: .lastPage)
        #expect(sealed.size == 4096 && readFile(path).count == 8192)
    }

    @Test("a damaged last-page record is corrupt, never trusted")
    func damagedRecord() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("f")
        try SealedFile.create(at: path, size: 4096, placement: .lastPage)
        let fd = open(path.string, O_RDWR)
        var byte: UInt8 = 0xFF
        pwrite(fd, &byte, 1, 4096 + 20)
        close(fd)
        let error = #expect(throws: PMemError.self) { _ = try SealedFile.open(path) }
        #expect(error?.code == .sealRecordCorrupt)
    }

    @Test("a pool in a last-page-sealed file is created, written, reopened, recovered and checked", arguments: bases)
    func poolInLastPageFile(base: String) throws {
        let scratch = Scratch(on: base)
        let path = scratch.path("pool")
        do {
            let pool = try Pool.create(at: path, capacity: 256 << 10, chunkSize: 64 << 10, spareCapacity: 128 << 10, sealPlacement: .lastPage)
            try pool.write([UInt8](repeating: 7, count: 300), at: 1000)
            try pool.write([UInt8](repeating: 9, count: 64 << 10), at: 64 << 10)
        }
        #expect(try SealedFile.verify(path).placement == .lastPage)
        let pool = try Pool.open(at: path)
        #expect(try pool.read(at: 1000, count: 300) == [UInt8](repeating: 7, count: 300))
        #expect(try pool.read(at: 64 << 10, count: 64 << 10) == [UInt8](repeating: 9, count: 64 << 10))
        #expect(try pool.check().logicalChunks == 4)
    }

    @Test("an extended-attribute seal and a last-page seal both open, side by side", arguments: bases)
    func bothFormsOpen(base: String) throws {
        let scratch = Scratch(on: base)
        guard hasUserXattrs(scratch.directory) else {
            try Skip.test(.kernelVersion, "no user xattrs on \(base) under Linux \(kernelRelease()); only the last-page form can be made here")
        }
        try SealedFile.create(at: scratch.path("x"), size: 4096, placement: .extendedAttribute)
        try SealedFile.create(at: scratch.path("p"), size: 4096, placement: .lastPage)
        #expect(try SealedFile.open(scratch.path("x")).report.placement == .extendedAttribute)
        #expect(try SealedFile.open(scratch.path("p")).report.placement == .lastPage)
    }
}
