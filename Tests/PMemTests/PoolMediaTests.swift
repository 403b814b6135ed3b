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

/// Bad blocks and unsafe shutdowns at pool open, through the debug-only
/// injection seam (`Syscalls.$injectedMedia`): emulated pmem offers neither.
@Suite("Media errors and unsafe shutdowns at open", .enabled(if: Pool.hasTestHooks))
struct PoolMediaTests {
    static let chunk = 65536

    /// A small pool (16 logical chunks, 4 spare, 4 lanes) and its layout.
    func pool(_ scratch: Scratch) throws -> (FilePath, PoolLayout) {
        let pool = try smallPool(scratch)
        return (pool.path, pool.layout)
    }

    func open(_ path: FilePath, badBlocks: [BadBlock]? = nil,
              count: InjectedMedia.ShutdownCount? = nil, acceptingUnclean: Bool = false) throws -> Pool {
        try Syscalls.$injectedMedia.withValue(InjectedMedia(badBlocks: badBlocks, shutdownCount: count)) {
            try Pool.open(at: path, acceptingUncleanShutdown: acceptingUnclean)
        }
    }

    /// The code of the error an open throws, nil if it succeeds.
    func refusal(_ path: FilePath, count: InjectedMedia.ShutdownCount) -> PMemError? {
        do { _ = try open(path, count: count); return nil } catch let error as PMemError { return error } catch { return nil }
    }

    func refusal(_ path: FilePath, _ blocks: [BadBlock]) -> PMemError? {
        do { _ = try open(path, badBlocks: blocks); return nil } catch { return error as? PMemError }
    }

    func page0(_ path: FilePath) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path.string))
        defer { try? handle.close() }
        return Array(try handle.read(upToCount: 4096) ?? Data())
    }

    func writePage0(_ path: FilePath, _ bytes: [UInt8]) throws {
        let fd = Glibc.open(path.string, O_RDWR)
        #expect(fd >= 0)
        defer { Glibc.close(fd) }
        #expect(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == bytes.count)
    }

    @Test("a bad block in the header page refuses the open with mediaError naming the range, before the header is read")
    func poisonedHeader() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, _) = try pool(scratch)
        let error = refusal(path, [BadBlock(fileOffset: 512, length: 512)])
        #expect(error?.code == .mediaError)
        #expect(error?.message.contains("header page bytes 512..<1024") == true, "\(String(describing: error))")
        #expect(error?.fileOffset == 512)
        // The header is not decoded first: garbage where a poisoned header
        // would be is still reported as bad media, not as corruption.
        try writePage0(path, [UInt8](repeating: 0xA5, count: 128))
        #expect(refusal(path, [BadBlock(fileOffset: 0, length: 4096)])?.code == .mediaError)
        #expect(refusal(path, [])?.code == .notAPool)
    }

    @Test("a bad block in the page table refuses the open, naming the page table's bytes")
    func poisonedPageTable() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, _) = try pool(scratch)
        let error = refusal(path, [BadBlock(fileOffset: 4096 + 8 * 3, length: 8)])
        #expect(error?.code == .mediaError)
        #expect(error?.message.contains("page table bytes 4120..<4128") == true, "\(String(describing: error))")
    }

    @Test("a bad block in a lane refuses the open, naming the lane; several bad ranges are all named")
    func poisonedLane() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, layout) = try pool(scratch)
        let lane1 = layout.laneOffset(1) + 4096
        let lane3 = layout.laneOffset(3)
        let error = refusal(path, [BadBlock(fileOffset: lane1, length: 4096), BadBlock(fileOffset: lane3, length: 64)])
        #expect(error?.code == .mediaError)
        #expect(error?.message.contains("lane 1 bytes \(lane1)..<\(lane1 + 4096)") == true, "\(String(describing: error))")
        #expect(error?.message.contains("lane 3 bytes \(lane3)..<\(lane3 + 64)") == true)
        // The pool itself is untouched: without the bad blocks it opens.
        _ = try open(path, badBlocks: [])
    }

    @Test("a committed record whose data would land on a bad block refuses the open with mediaError naming the range, before recovery writes anything")
    func recordOverBadBlock() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, layout) = try pool(scratch)
        do {
            // A logged write whose record stays valid in its lane (records
            // are replayed at every open until overwritten or killed).
            let pool = try Pool.open(at: path)
            try pool.write([UInt8](repeating: 7, count: 100), at: Self.chunk + 4000)
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path.string))
        let bad = layout.chunkOffset(1) + 4096 // identity page table: logical chunk 1
        let error = refusal(path, [BadBlock(fileOffset: bad, length: 512)])
        #expect(error?.code == .mediaError)
        // The record's 100 bytes at 4000 in the chunk meet the bad block's first 4.
        #expect(error?.message.contains("bad blocks at file bytes \(bad)..<\(bad + 4)") == true, "\(String(describing: error))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path.string)) == before, "recovery wrote before refusing")
        // A bad block no record's data meets does not refuse the open.
        _ = try open(path, badBlocks: [BadBlock(fileOffset: layout.chunkOffset(3), length: 512)])
    }

    @Test("bad blocks in data chunks do not refuse the open; they are reported with the logical bytes they hold")
    func poisonedData() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, layout) = try pool(scratch)
        // Chunk 2 (identity page table: logical 2), a range across physical
        // chunks 5 and 6, and spare physical chunk 17.
        let inChunk2 = layout.chunkOffset(2) + 4096
        let across = layout.chunkOffset(6) - 512
        let spare = layout.chunkOffset(17)
        let pool = try open(path, badBlocks: [BadBlock(fileOffset: inChunk2, length: 4096),
                                              BadBlock(fileOffset: across, length: 1024),
                                              BadBlock(fileOffset: spare, length: 4096)])
        let c = Self.chunk
        #expect(pool.media.dataBadBlocks == [
            PoolBadBlock(fileRange: inChunk2..<(inChunk2 + 4096), physicalChunk: 2, logicalRange: (2 * c + 4096)..<(2 * c + 8192)),
            PoolBadBlock(fileRange: across..<(across + 512), physicalChunk: 5, logicalRange: (6 * c - 512)..<(6 * c)),
            PoolBadBlock(fileRange: (across + 512)..<(across + 1024), physicalChunk: 6, logicalRange: (6 * c)..<(6 * c + 512)),
            PoolBadBlock(fileRange: spare..<(spare + 4096), physicalChunk: 17, logicalRange: nil),
        ])
        #expect(pool.media.dataBadBlocks[3].description.contains("spare physical chunk 17"))
        #expect(!pool.uncleanShutdownDetected)
    }

    @Test("a data bad block follows the page table: after a whole-chunk write remaps logical 0, its old physical chunk is reported as spare")
    func badBlocksFollowThePageTable() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, layout) = try pool(scratch)
        try Pool.open(at: path).write([UInt8](repeating: 1, count: Self.chunk), at: 0)   // logical 0 moves to a spare
        let reopened = try Pool.open(at: path)
        let moved = try #require(reopened.pageTable.first)
        #expect(moved != 0)
        _ = consume reopened
        let pool = try open(path, badBlocks: [BadBlock(fileOffset: layout.chunkOffset(0), length: 64),
                                              BadBlock(fileOffset: layout.chunkOffset(moved) + 64, length: 64)])
        #expect(pool.media.dataBadBlocks.map(\.logicalRange) == [nil, 64..<128])
    }

    @Test("off DAX, with nothing injected, the open says bad blocks are not tracked and the count is not offered")
    func notTrackedOffDAX() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, _) = try pool(scratch)
        let pool = try Pool.open(at: path)
        guard case .notTracked(let reason) = pool.media.badBlocks else {
            Issue.record("bad blocks tracked on /dev/shm: \(pool.media.badBlocks)"); return
        }
        #expect(reason.contains("not on DAX"))
        guard case .notOffered(let why) = pool.media.unsafeShutdown else {
            Issue.record("a count on /dev/shm: \(pool.media.unsafeShutdown)"); return
        }
        #expect(why.contains("does not offer"), "\(why)")   // libpmem2 answered PMEM2_E_NOSUPP
        #expect(pool.media.unsafeShutdown.description.hasPrefix("not offered"))
    }

    @Test("a device without a count: reported as not offered, plainly, and nothing is written to page 0")
    func notOffered() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, _) = try pool(scratch)
        let before = try page0(path)
        do {
            let pool = try open(path, count: .notOffered)
            #expect(pool.media.unsafeShutdown.description.hasPrefix("not offered"))
            #expect(pool.media.unsafeShutdown.description.contains("cannot be detected"))
            #expect(!pool.uncleanShutdownDetected)
        }
        #expect(try page0(path) == before)
        #expect(before[128...].allSatisfy { $0 == 0 })
    }

    @Test("the unsafe-shutdown count: recorded at the first open, clean after a clean close; a change while the pool was open refuses the open, keeping the evidence, until it is accepted, which is recorded")
    func unsafeShutdownCount() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        let id = "8089-a2-1837-00000a3b"
        do {
            let created = try Syscalls.$injectedMedia.withValue(InjectedMedia(shutdownCount: .offered(deviceID: id, count: 5))) {
                try Pool.create(at: path, capacity: 16 * Self.chunk, chunkSize: Self.chunk)
            }
            #expect(created.media.unsafeShutdown == .firstRecorded(count: 5))
        }
        #expect(try open(path, count: .offered(deviceID: id, count: 5)).media.unsafeShutdown == .clean(count: 5))
        // The count grew while the pool was closed: its stores were all flushed at close.
        #expect(try open(path, count: .offered(deviceID: id, count: 6)).media.unsafeShutdown == .clean(count: 6))

        // Open, and keep page 0 as the device would after losing power while
        // the pool was open (the record says open); the pool then closes.
        var whileOpen: [UInt8] = []
        do {
            let pool = try open(path, count: .offered(deviceID: id, count: 6))
            whileOpen = try page0(path)
            try pool.write([1, 2, 3], at: 100)
        }
        try writePage0(path, whileOpen)
        // Refused, naming both counts, with nothing written: refused again.
        for _ in 0..<2 {
            let error = refusal(path, count: .offered(deviceID: id, count: 7))
            #expect(error?.code == .uncleanShutdown)
            #expect(error?.message.contains("was 6 when the pool was last opened and is 7") == true, "\(String(describing: error))")
            #expect(try page0(path) == whileOpen)
        }
        // Another device while the record says open (PMDK: a changed id) is refused too.
        #expect(refusal(path, count: .offered(deviceID: "another-dimm", count: 6))?.code == .uncleanShutdown)
        #expect(refusal(path, count: .offered(deviceID: id, count: 5))?.code == .uncleanShutdown)
        do {
            let pool = try open(path, count: .offered(deviceID: id, count: 7), acceptingUnclean: true)
            #expect(pool.media.unsafeShutdown == .unclean(previous: 6, now: 7))
            #expect(pool.uncleanShutdownDetected)
            #expect(pool.media.acceptedUncleanShutdown == 7)
            #expect(pool.media.unsafeShutdown.description.contains("UNSAFE SHUTDOWN"))
            #expect(try pool.read(at: 100, count: 3) == [1, 2, 3])
        }
        // Reported once; the acceptance stays recorded in the pool.
        let next = try open(path, count: .offered(deviceID: id, count: 7))
        #expect(next.media.unsafeShutdown == .clean(count: 7))
        #expect(next.media.acceptedUncleanShutdown == 7)
        next.close()
        // The same count after the death of the process only (the record
        // says open, the device flushed): no unsafe shutdown.
        try writePage0(path, whileOpen)
        #expect(try open(path, count: .offered(deviceID: id, count: 6)).media.unsafeShutdown == .clean(count: 6))
    }

    @Test("a version-1 shutdown record (before accepted unclean shutdowns were recorded) is read, refused when it says open with another count, and rewritten as version 2")
    func versionOneRecord() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, _) = try pool(scratch)
        // Version 1's layout: flags bit 0 only, bytes 32..<60 zero.
        let id = Array("dimm-a".utf8)
        let v1: [UInt8] = .record(ShutdownRecord.size) { w in
            w.store(ShutdownRecord.magic, at: 0)
            w.store(UInt16(1), at: 8)
            w.store(UInt16(ShutdownRecord.size), at: 10)
            w.store(UInt32(1), at: 12)
            w.store(UInt64(4), at: 16)
            w.store(UInt32(id.count), at: 24)
            w.store(id.withUnsafeBytes { CRC32C.checksum($0) }, at: 28)
            w.storeChecksum(of: 0..<60, at: 60)
        }
        var page = try page0(path)
        page.replaceSubrange(ShutdownRecord.offset..<(ShutdownRecord.offset + ShutdownRecord.size), with: v1)
        try writePage0(path, page)
        #expect(refusal(path, count: .offered(deviceID: "dimm-a", count: 5))?.code == .uncleanShutdown)
        #expect(try open(path, count: .offered(deviceID: "dimm-a", count: 4)).media.unsafeShutdown == .clean(count: 4))
        let rewritten = try page0(path)
        #expect(rewritten[ShutdownRecord.offset + 8] == 2)
        #expect(rewritten[ShutdownRecord.offset..<(ShutdownRecord.offset + 64)].withUnsafeBytes { ShutdownRecord.decode($0) }
                == .record(ShutdownRecord(open: false, count: 4, deviceID: "dimm-a")))
    }

    @Test("the record names its device: after a clean close, another device (or a smaller count) is recorded anew; a damaged record is said to be")
    func deviceChangedAndDamaged() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (path, _) = try pool(scratch)
        _ = try open(path, count: .offered(deviceID: "dimm-a", count: 3))
        #expect(try open(path, count: .offered(deviceID: "dimm-b", count: 9)).media.unsafeShutdown == .deviceChanged(count: 9))
        #expect(try open(path, count: .offered(deviceID: "dimm-b", count: 2)).media.unsafeShutdown == .deviceChanged(count: 2))
        var page = try page0(path)
        page[ShutdownRecord.offset + 16] ^= 0x40
        try writePage0(path, page)
        let pool = try open(path, count: .offered(deviceID: "dimm-b", count: 2))
        #expect(pool.media.unsafeShutdown == .recordDamaged(count: 2))
        #expect(!pool.uncleanShutdownDetected)
    }

    @Test("the shutdown record round-trips, and every single-bit flip is refused")
    func recordEncoding() {
        for record in [ShutdownRecord(open: true, count: 0x1234_5678_9ABC, deviceID: "nmem0"),
                       ShutdownRecord(open: false, count: 9, deviceID: "nmem0", acceptedUnclean: 0xFFFF_0000_1234)] {
        let bytes = record.encoded()
        #expect(bytes.count == 64)
        #expect(bytes.withUnsafeBytes { ShutdownRecord.decode($0) } == .record(record))
        #expect([UInt8](repeating: 0, count: 64).withUnsafeBytes { ShutdownRecord.decode($0) } == .none)
        for bit in 0..<(64 * 8) {
            var flipped = bytes
            flipped[bit / 8] ^= UInt8(1 << (bit % 8))
            #expect(flipped.withUnsafeBytes { ShutdownRecord.decode($0) } == .damaged, "bit \(bit)")
        }
        }
    }
}
