import Foundation
import Glibc
@testable import PMemPool
import PMem
import PMemTestSupport
import Testing

/// On the msync path every sync write-protects the pages it wrote back, so
/// a store through the mapping takes a write fault per page per commit.
/// Large copies therefore go into the file by pwrite, one page per call
/// (Pool+FileWrites.swift). Counted by the kernel for this thread
/// (`/proc/thread-self/stat`: minor faults; `/proc/thread-self/io`: bytes
/// dirtied), on a loop xfs. Serialized: loop devices are few.
@Suite("Large copies on the msync path: by pwrite, without faults or large folios", .serialized)
struct FileWriteTests {
    /// The minor faults this thread has taken so far (field 10 of its stat).
    static func minorFaults() -> Int {
        let text = (try? String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8)) ?? ""
        guard let close = text.lastIndex(of: ")") else { return -1 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 7 ? Int(fields[7]) ?? -1 : -1
    }

    static func pool(_ fs: LoopMount) throws -> Pool {
        let pool = try Pool.create(at: fs.path("pool"), capacity: 32 << 20, chunkSize: 2 << 20, spareCapacity: 8 << 20, lanes: 4)
        #expect(pool.ioInfo.storeGranularity == .page)
        return pool
    }

    @Test("1 MiB logged writes on xfs take no write fault per page, and read back")
    func loggedWriteTakesNoFaults() throws {
        let fs = try LoopMount(mkfs: ["mkfs.xfs", "-q", "-f"])
        let pool = try Self.pool(fs)
        var payload = [UInt8](repeating: 0, count: 1 << 20)
        for i in 0..<3 { payload[0] = UInt8(i); try pool.write(payload, at: (i % 2) << 20) } // lanes and chunks touched once
        try #require(Self.minorFaults() >= 0, "no /proc/thread-self/stat here")
        let writes = 8
        var faults = 0
        for i in 0..<writes {
            for j in stride(from: 0, to: payload.count, by: 4096) { payload[j] = UInt8(truncatingIfNeeded: i &+ j >> 12) }
            // Only the write is counted: the 1 MiB array `read` returns is a
            // fresh allocation whose pages fault wherever malloc puts it.
            let before = Self.minorFaults()
            try pool.write(payload, at: (i % 2) << 20)
            faults += Self.minorFaults() - before
            #expect(try pool.read(at: (i % 2) << 20, count: payload.count) == payload)
        }
        // Through the mapping: two copies of 256 pages, each faulting (512 per write).
        let perWrite = Double(faults) / Double(writes)
        #expect(perWrite < 64, "minor faults per 1 MiB write: \(perWrite)")
        pool.close()
        let reopened = try Pool.open(at: fs.path("pool"))
        #expect(try reopened.read(at: 1 << 20, count: payload.count) == payload)
    }

    @Test("after 1 MiB writes, a 4 KiB write in the same range dirties a few pages, not a large folio")
    func largeWritesLeaveSmallFolios() throws {
        let fs = try LoopMount(mkfs: ["mkfs.xfs", "-q", "-f"])
        let pool = try Self.pool(fs)
        let large = [UInt8](repeating: 3, count: 1 << 20)
        for i in 0..<4 { try pool.write(large, at: (i % 2) << 20) } // both slots of a pair, the data
        let small = [UInt8](repeating: 9, count: 4096)
        let before = PageCacheFolioTests.dirtiedBytes()
        try #require(before >= 0, "no /proc/thread-self/io here")
        let writes = 16
        for i in 0..<writes { try pool.write(small, at: (i % 2) << 20 + (i % 8) * 4096) }
        let perWrite = Double(PageCacheFolioTests.dirtiedBytes() - before) / Double(writes) / 4096
        // One pwrite per 1 MiB leaves folios of up to 1 MiB: 256 pages a write.
        #expect(perWrite <= 4, "pages dirtied per 4 KiB write: \(perWrite)")
        #expect(try pool.read(at: (1 << 20) + 7 * 4096, count: 4096) == small)
    }

    @Test("a remapped 1.5 MiB write on xfs (spare chunk filled by pwrite) reads back, before and after a reopen")
    func remappedWriteReadsBack() throws {
        let fs = try LoopMount(mkfs: ["mkfs.xfs", "-q", "-f"])
        let pool = try Self.pool(fs)
        let old = [UInt8](repeating: 1, count: 2 << 20)
        try pool.write(old, at: 2 << 20)
        let new = (0..<(3 << 19)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let before = pool.statistics.remaps
        try pool.write(new, at: (2 << 20) + 4096)
        #expect(pool.statistics.remaps == before + 1)
        let expected = [UInt8](old[0..<4096]) + new + [UInt8](old[(4096 + new.count)...])
        #expect(try pool.read(at: 2 << 20, count: 2 << 20) == expected)
        pool.close()
        let reopened = try Pool.open(at: fs.path("pool"))
        #expect(try reopened.read(at: 2 << 20, count: 2 << 20) == expected)
    }
}
