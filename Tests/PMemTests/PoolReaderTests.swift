import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemPool
@testable import PMemCrashTesting
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// docs/FORMAT.md, "Read-only opens": PoolReader beside a writer.
@Suite("Read-only opens: a reader beside the writer")
struct PoolReaderTests {
    /// The file's bytes, read with pread (not through a mapping).
    static func fileBytes(_ path: FilePath) throws -> [UInt8] {
        let fd = open(path.string, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var st = stat()
        try #require(fstat(fd, &st) == 0)
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
        try #require(n == bytes.count)
        return bytes
    }

    @Test("a read-only open works while the writer holds the pool, reads what the writer reads, and writes nothing")
    func besideAnIdleWriter() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        let chunk = 4096
        let writer = try Pool.create(at: path, capacity: 16 * chunk, chunkSize: chunk, spareCapacity: 4 * chunk)
        try writer.write([UInt8](repeating: 7, count: 300), at: 100)            // logged
        try writer.write([UInt8](repeating: 8, count: 2 * chunk), at: 4 * chunk) // remapped
        try writer.write(value: UInt64(0x1122_3344_5566_7788), at: 1024)       // in place
        #expect(throws: PMemError.self) { _ = try Pool.open(at: path) }          // the writer's lock
        let before = try Self.fileBytes(path)
        let reader = try PoolReader.open(at: path)
        #expect(reader.capacity == writer.capacity && reader.chunkSize == chunk && reader.laneCount == writer.laneCount)
        #expect(try reader.read(at: 0, count: writer.capacity) == writer.read(at: 0, count: writer.capacity))
        let report = try reader.check()
        #expect(report.logicalChunks == 16 && report.recoveredCommits == 0)
        _ = try reader.lanesWithValidRecords()
        #expect(try Self.fileBytes(path) == before, "the reader wrote to the file")
        #expect(throws: PMemError.self) { _ = try reader.read(at: writer.capacity - 10, count: 11) }
    }

    @Test("an open whose recovery writes increments the open generation; one with nothing to recover, and a read-only open, leave it")
    func openGeneration() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        func generation() throws -> UInt64 {
            let bytes = try Self.fileBytes(path)
            return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: PoolLayout.openGenerationOffset, as: UInt64.self)) }
        }
        do { _ = try Pool.create(at: path, capacity: 1 << 20, chunkSize: 64 << 10) }
        let fresh = try generation()
        do { _ = try Pool.open(at: path) }
        #expect(try generation() == fresh, "nothing to recover, nothing written")
        // A logged write leaves its record valid in its lane: the next
        // open replays and clears it.
        do { try Pool.open(at: path).write([UInt8](repeating: 5, count: 300), at: 100) }
        do { _ = try Pool.open(at: path) }
        #expect(try generation() == fresh + 2, "once before recovery's first store, once after its last")
        _ = try PoolReader.open(at: path).read(at: 0, count: 64)
        #expect(try generation() == fresh + 2)
    }

    /// A commit stopped right after its commit point (the process "died"):
    /// the record is valid, its effects not in place. The reader reports the
    /// record, shows the committed bytes, and leaves the media alone; the
    /// next writable open replays it and shows the same bytes.
    @Test("a valid record left by a crash is reported and included in reads, never applied", .enabled(if: Pool.hasTestHooks),
          arguments: [300, 2 * 4096])
    func validRecordsAreReportedNotApplied(size: Int) throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        let chunk = 4096, offset = 3 * chunk
        do {
            let pool = try Pool.create(at: path, capacity: 16 * chunk, chunkSize: chunk, spareCapacity: 4 * chunk)
            try pool.write([UInt8](repeating: 1, count: 4 * chunk), at: 2 * chunk)
            let error = Pool.$crashPoint.withValue(.afterCommitRecord) { () -> PMemError? in
                do throws(PMemError) { try pool.write([UInt8](repeating: 9, count: size), at: offset); return nil } catch { return error }
            }
            try #require(error?.code == .simulatedCrash)
        }
        let before = try Self.fileBytes(path)
        let reader = try PoolReader.open(at: path)
        // The stopped commit's record, and on the msync path the one before
        // it too (its apply waits for the next sync).
        let valid = try reader.lanesWithValidRecords()
        #expect(!valid.isEmpty)
        #expect(try reader.check().validRecordsLeft == valid.count)
        let seen = try reader.read(at: 2 * chunk, count: 4 * chunk)
        var expected = [UInt8](repeating: 1, count: 4 * chunk)
        for i in 0..<size { expected[chunk + i] = 9 }
        #expect(firstMismatch(seen, expected) == nil)
        #expect(try Self.fileBytes(path) == before, "the reader wrote to the file")
        let recovered = try Pool.open(at: path)
        #expect(recovered.recoveredCommits == valid.count)
        #expect(firstMismatch(try recovered.read(at: 2 * chunk, count: 4 * chunk), expected) == nil)
    }

    /// The writer fills whole units with one value per write: two-chunk
    /// units (remapped), and 1 KiB ranges across a chunk boundary (logged,
    /// two chunks in one record). A read of a unit that mixed two writes
    /// would show two values. The reader reads units while the writer
    /// writes, on both persistence paths' protocol as the host runs it.
    @Test("reads beside a committing writer never mix two commits' bytes")
    func neverMixedBesideAWriter() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        let chunk = 4096
        let writer = try Pool.create(at: path, capacity: 16 * chunk, chunkSize: chunk, spareCapacity: 8 * chunk, lanes: 4)
        let reader = try PoolReader.open(at: path)
        // Units: chunks 0-1, 2-3, 4-5, 6-7 (remapped); 1 KiB across each of
        // the boundaries 9|10, 11|12, 13|14 (logged).
        let units: [(offset: Int, count: Int)] = stride(from: 0, to: 8, by: 2).map { ($0 * chunk, 2 * chunk) }
            + [10, 12, 14].map { ($0 * chunk - 512, 1024) }
        final class Outcome: @unchecked Sendable {
            let lock = NSLock()
            var writerDone = false
            var writerError: String?
        }
        let outcome = Outcome()
        let writes = 20_000
        let thread = Thread {
            var g = SeededGenerator(state: 31)
            do {
                for i in 0..<writes {
                    let unit = units[Int.random(in: 0..<units.count, using: &g)]
                    try writer.write([UInt8](repeating: UInt8(i % 255 + 1), count: unit.count), at: unit.offset)
                }
            } catch {
                outcome.lock.lock(); outcome.writerError = "\(error)"; outcome.lock.unlock()
            }
            outcome.lock.lock(); outcome.writerDone = true; outcome.lock.unlock()
        }
        thread.start()
        var reads = 0, changed = 0, mixed: [String] = []
        var g = SeededGenerator(state: 32)
        while true {
            outcome.lock.lock(); let done = outcome.writerDone; outcome.lock.unlock()
            if done && reads > 0 { break }
            let unit = units[Int.random(in: 0..<units.count, using: &g)]
            let bytes: [UInt8]
            do throws(PMemError) {
                bytes = try reader.read(at: unit.offset, count: unit.count)
            } catch {
                try #require(error.code == .changedUnderneath, "\(error)")
                changed += 1
                continue
            }
            reads += 1
            if let other = bytes.first(where: { $0 != bytes[0] }), mixed.count < 5 {
                mixed.append("\(unit.count) bytes at \(unit.offset): \(bytes[0]) and \(other)")
            }
        }
        #expect(outcome.writerError == nil, "\(outcome.writerError ?? "")")
        #expect(mixed.isEmpty, "mixed reads: \(mixed)")
        #expect(reads > 0)
        print("read-only reads beside a writer: \(reads) read, \(changed) gave up (changedUnderneath), \(mixed.count) mixed")
        // Idle again: the reader sees exactly what the writer sees.
        #expect(try reader.read(at: 0, count: writer.capacity) == writer.read(at: 0, count: writer.capacity))
    }
}
