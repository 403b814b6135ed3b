import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
@testable import PMemCrashTesting
import SystemPackage
import PMemTestSupport
import Testing

/// Hostile media: damage anywhere in a pool's metadata is detected at open
/// (or by `check`), or the pool opens with exactly the contents it had (or,
/// with an unapplied commit in a lane, exactly the contents before or after
/// it). Never a trap, never other data returned silently.
@Suite("Pools on damaged media")
struct PoolCorruptionTests {
    /// A pool of 4 chunks of 4 KiB, 2 spare, 2 lanes; its file image, the
    /// contents before and after a transaction, and whether that
    /// transaction was stopped after its commit point (left in a lane).
    struct Subject {
        var path: FilePath
        var image: [UInt8]
        var metadataEnd: Int
        var before: [UInt8]
        var after: [UInt8]
        /// Whether the pool took its msync paths (lanes in pairs): then both
        /// remaps' records stay valid, one in each slot of the pair.
        var lanesInPairs: Bool
    }

    static func makeSubject(_ scratch: Scratch, committedInLane: Bool) throws -> Subject {
        let path = scratch.path("pool")
        var before = [UInt8](repeating: 0, count: 4 * 4096)
        var metadataEnd = 0
        var lanesInPairs = false
        do {
            let pool = try Pool.create(at: path, capacity: 4 * 4096, chunkSize: 4096, lanes: 2)
            metadataEnd = pool.layout.dataOffset
            lanesInPairs = pool.defersApply
            for half in [0, 8192] {
                let bytes = (0..<8192).map { UInt8(truncatingIfNeeded: ($0 + half) * 13 + 1) }
                try pool.write(bytes, at: half)
                before.replaceSubrange(half..<half + 8192, with: bytes)
            }
            if committedInLane {
                // A logged write and a whole-chunk remap in one record, stopped at the commit point.
                Pool.$crashPoint.withValue(.afterCommitRecord) {
                    #expect(throws: PMemError.self, "the crash point must stop the commit") {
                        try pool.transaction { tx in
                            tx.write([UInt8](repeating: 0xA5, count: 100), at: 10)
                            tx.write([UInt8](repeating: 0x5A, count: 4096), at: 8192)
                        }
                    }
                }
            }
        }
        var after = before
        if committedInLane {
            after.replaceSubrange(10..<110, with: repeatElement(0xA5, count: 100))
            after.replaceSubrange(8192..<12288, with: repeatElement(0x5A, count: 4096))
        }
        return Subject(path: path, image: readFile(path), metadataEnd: metadataEnd, before: before, after: after,
                       lanesInPairs: lanesInPairs)
    }

    /// What opening the damaged file gave.
    enum Verdict: Equatable { case refused, before, after, wrong(Int) }

    /// Writes `image` over the pool file, opens it, and classifies what the
    /// open gives; an opened pool must also pass `check`.
    static func open(_ subject: Subject, image: [UInt8], fd: FileDescriptor) throws -> Verdict {
        _ = try fd.writeAll(toAbsoluteOffset: 0, image)
        let pool: Pool
        do { pool = try Pool.open(at: subject.path) } catch {
            #expect([.poolCorrupt, .notAPool].contains(error.code), "\(error)")
            return .refused
        }
        let contents = try pool.read(at: 0, count: subject.before.count)
        _ = try pool.check()
        if firstMismatch(contents, subject.before) == nil { return .before }
        if firstMismatch(contents, subject.after) == nil { return .after }
        return .wrong(firstMismatch(contents, subject.before)!)
    }

    @Test("every single byte of the metadata, flipped: refused as corrupt, or the pool opens with its committed contents",
          arguments: [false, true])
    func flipEveryByte(committedInLane: Bool) throws {
        let scratch = Scratch(on: "/dev/shm")
        let subject = try Self.makeSubject(scratch, committedInLane: committedInLane)
        let fd = try FileDescriptor.open(subject.path, .readWrite)
        defer { try? fd.close() }
        #expect(try Self.open(subject, image: subject.image, fd: fd) == (committedInLane ? .after : .before))

        var counts: [String: Int] = [:]
        var wrong: [Int] = []
        // The header page, the page table and both lanes: every byte up to the first data chunk.
        for offset in 0..<subject.metadataEnd {
            var image = subject.image
            image[offset] ^= 0xFF
            let verdict = try Self.open(subject, image: image, fd: fd)
            if offset < PoolLayout.headerSize, verdict == .refused { counts["header refused", default: 0] += 1 }
            switch verdict {
            case .refused: counts["refused", default: 0] += 1
            case .before: counts["before", default: 0] += 1
            case .after: counts["after", default: 0] += 1
            case .wrong: wrong.append(offset)
            }
        }
        #expect(wrong.isEmpty, "flips at \(wrong.prefix(10)) opened with contents nobody committed")
        // Every byte of the header is caught. A flipped page-table entry is
        // refused, or (version 2) rewritten by the replay of a valid record
        // that names it: never used as it is (`wrong` stays empty). With one
        // lane reused, the first remap's record is gone and its two entries'
        // flips are refused; with lanes in pairs both records name theirs.
        #expect(counts["header refused", default: 0] == PoolLayout.headerSize)
        #expect(counts["refused", default: 0] >= PoolLayout.headerSize + (subject.lanesInPairs ? 0 : 2 * 8))
        if committedInLane {
            #expect(counts["after", default: 0] > 0 && counts["before", default: 0] > 0,
                    "flips outside the record keep the commit; flips in its header tear it: \(counts)")
        }
        print("flipped \(subject.metadataEnd) metadata bytes (committed record: \(committedInLane)): \(counts)")
    }

    @Test("random multi-byte damage to the metadata: refused or committed contents, never anything else",
          arguments: [false, true])
    func randomDamage(committedInLane: Bool) throws {
        let scratch = Scratch(on: "/dev/shm")
        let subject = try Self.makeSubject(scratch, committedInLane: committedInLane)
        let fd = try FileDescriptor.open(subject.path, .readWrite)
        defer { try? fd.close() }
        var generator = SeededGenerator(state: committedInLane ? 91 : 19)
        var wrong = 0, refused = 0
        let rounds = 1500
        for _ in 0..<rounds {
            var image = subject.image
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                // Aim half of the damage at the places that matter most.
                let hot = [0, 4096, 8192, 8192 + 16384]
                let start = Bool.random(using: &generator)
                    ? hot.randomElement(using: &generator)! + Int.random(in: 0..<128, using: &generator)
                    : Int.random(in: 0..<subject.metadataEnd, using: &generator)
                for i in start..<min(start + Int.random(in: 1...32, using: &generator), subject.metadataEnd) {
                    image[i] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            switch try Self.open(subject, image: image, fd: fd) {
            case .refused: refused += 1
            case .before, .after: break
            case .wrong: wrong += 1
            }
        }
        #expect(wrong == 0)
        #expect(refused > rounds / 4)
    }

    @Test("values behind valid checksums are range-checked: a header, page-table entry or log entry out of range is refused",
          arguments: ["chunk size", "logical chunks", "lane count", "physical out of range", "duplicate physical",
                      "log offset past capacity", "log length overflow", "log chunk out of range", "log entry count"])
    func forgedChecksums(field: String) throws {
        let scratch = Scratch(on: "/dev/shm")
        let subject = try Self.makeSubject(scratch, committedInLane: true)
        var image = subject.image
        // The lane of the committed transaction: the valid record with the
        // highest sequence (lanes follow threads, so it need not be lane 0).
        let layout = try image.withUnsafeBytes { try PoolLayout.decode($0, fileSize: $0.count, path: nil) }
        let lane = try #require(image.withUnsafeBytes { b in
            (0..<layout.laneCount).map { layout.laneOffset($0) }
                .compactMap { o in CommitRecord.decode(b.baseAddress! + o, maxBody: layout.laneSize - 64).map { (o, $0.sequence) } }
                .max { $0.1 < $1.1 }?.0
        })
        let body = lane + 64
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { image.replaceSubrange(offset..<offset + MemoryLayout<T>.size, with: $0) }
        }
        /// The lane offset of the body's first entry of `kind` (1: data, 2: page table).
        func entry(ofKind kind: UInt32) -> Int {
            var o = body
            while true {
                let (k, length) = image.withUnsafeBytes {
                    ($0.loadUnaligned(fromByteOffset: o, as: UInt32.self), Int($0.loadUnaligned(fromByteOffset: o + 16, as: UInt64.self)))
                }
                if k == kind { return o }
                o += k == 1 ? 24 + (length + 7) / 8 * 8 : 24
            }
        }
        let fd = try FileDescriptor.open(subject.path, .readWrite)
        defer { try? fd.close() }
        // The control: resealing an undamaged image changes nothing, so a refusal below is the forged value's.
        var control = subject.image
        control.withUnsafeMutableBytes { PoolImage.resealChecksums($0) }
        #expect(try Self.open(subject, image: control, fd: fd) == .after)
        switch field {
        case "chunk size": put(UInt64(1 << 40), at: 16)
        case "logical chunks": put(UInt64.max, at: 24)
        case "lane count": put(UInt32(0), at: 40)
        case "physical out of range": put(UInt32(1 << 30), at: 4096 + 8)
        case "duplicate physical":
            put(image.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4096, as: UInt32.self) }, at: 4096 + 8)
        case "log offset past capacity": put(UInt64(1 << 62), at: entry(ofKind: 1) + 8)
        case "log length overflow": put(UInt64.max - 5, at: entry(ofKind: 1) + 16)
        case "log chunk out of range": put(UInt64(1 << 20), at: entry(ofKind: 2) + 16)
        default: put(UInt32.max, at: lane + 16)
        }
        image.withUnsafeMutableBytes { PoolImage.resealChecksums($0) }
        #expect(try Self.open(subject, image: image, fd: fd) == .refused)
    }

    @Test("the fuzzer's seed corpus replays through the same open path without a trap")
    func fuzzCorpusReplays() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FuzzCorpus/pool-image")
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus.path)
        #expect(files.count >= 10)
        let result = try PMemCtlTests.run([corpus.path], program: "pmem-fuzz")
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("replayed \(files.count) inputs"))
    }
}
