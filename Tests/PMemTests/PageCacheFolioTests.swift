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

/// Off DAX a persist is an msync, which writes back every dirty folio of the
/// range; xfs caches files in folios of up to 2 MiB, and a store through a
/// mapping dirties its whole folio. So a mapping on page granularity asks
/// for single-page folios (cached pages dropped, no read-ahead on faults),
/// and the bytes dirtied per commit stay the pages the commit stores to.
/// Counted by the kernel for this thread (`/proc/thread-self/io`,
/// `write_bytes`: the bytes of every folio this thread dirtied), on a loop
/// xfs. Serialized: loop devices are few.
@Suite("Write-back off DAX: a commit dirties its pages, not 2 MiB folios", .serialized)
struct PageCacheFolioTests {
    /// The bytes of the folios this thread has dirtied so far.
    static func dirtiedBytes() -> Int {
        let text = (try? String(contentsOfFile: "/proc/thread-self/io", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("write_bytes: ") {
            return Int(line.dropFirst("write_bytes: ".count)) ?? -1
        }
        return -1
    }

    @Test("a 4 KiB Pool.write on xfs (msync path) dirties 3 pages: its record's two and the previous apply's one")
    func poolWriteDirtiesItsPages() throws {
        let fs = try LoopMount(mkfs: ["mkfs.xfs", "-q", "-f"])
        let pool = try Pool.create(at: fs.path("pool"), capacity: 32 << 20, chunkSize: 2 << 20, spareCapacity: 4 << 20, lanes: 4)
        #expect(pool.ioInfo.storeGranularity == .page)
        let payload = [UInt8](repeating: 7, count: 4096)
        for i in 0..<4 { try pool.write(payload, at: i * 4096) }
        let before = Self.dirtiedBytes()
        try #require(before >= 0, "no /proc/thread-self/io here")
        let writes = 32
        for i in 0..<writes { try pool.write(payload, at: (i % 64) * 4096 + (1 << 20)) }
        let perWrite = Double(Self.dirtiedBytes() - before) / Double(writes) / 4096
        // 2 MiB folios make it hundreds of pages (512 measured on 6.18).
        #expect(perWrite <= 4, "pages dirtied per 4 KiB write: \(perWrite)")
        #expect(try pool.read(at: (1 << 20) + 4096, count: 4096) == payload)
    }

    @Test("8 bytes stored and persisted through a page-granularity Mapping dirty one page, in a file written by large writes")
    func mappingPersistDirtiesOnePage() throws {
        let fs = try LoopMount(mkfs: ["mkfs.xfs", "-q", "-f"])
        let path = fs.path("file")
        // Written with 1 MiB writes: the page cache holds it in large folios.
        let fd = open(path.string, O_RDWR | O_CREAT, 0o644)
        let block = [UInt8](repeating: 1, count: 1 << 20)
        for i in 0..<8 { _ = pwrite(fd, block, block.count, off_t(i << 20)) }
        fsync(fd)
        close(fd)
        let map = try Mapping(path: path)
        #expect(map.storeGranularity == .page)
        let before = Self.dirtiedBytes()
        let stores = 16
        for i in 0..<stores {
            try map.store(UInt64(i), at: i * 300_000)
            try map.persist((i * 300_000)..<(i * 300_000 + 8))
        }
        let perStore = Double(Self.dirtiedBytes() - before) / Double(stores) / 4096
        #expect(perStore <= 1, "pages dirtied per 8-byte store: \(perStore)")
    }
}
