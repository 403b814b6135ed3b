import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
import PMemCrashTesting
import SystemPackage
import PMemTestSupport
import Testing

/// The small-commit budget (issue 13), counted from outside the pool's own
/// tallies: a pool opened through a `PersistenceCounter` has every flush,
/// fence and flushing copy counted, then done by libpmem2. On /dev/shm with
/// PMEM2_FORCE_GRANULARITY unset the pool is on the msync path, where each
/// flush call is one msync, and one-write logged commits defer their apply
/// to the next sync (docs/FORMAT.md, "Deferred apply").
@Suite("Persistence counted from outside the pool (msync path)",
       .enabled(if: getenv("PMEM2_FORCE_GRANULARITY") == nil, "PMEM2_FORCE_GRANULARITY is set for the whole test run"))
struct PersistenceCounterTests {
    /// The counts of one `Pool.write` of `size` bytes at `offset`, and the
    /// fences the pool's own statistics claim for it.
    static func countOneWrite(_ pool: Pool, _ counter: PersistenceCounter, size: Int, at offset: Int)
        throws -> (counted: PersistenceCounts, tallied: Int)
    {
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let before = counter.counts, tallyBefore = pool.statistics.fences
        try pool.write(bytes, at: offset)
        return (counter.counts - before, pool.statistics.fences - tallyBefore)
    }

    @Test("a 64 B and a 4 KiB Pool.write (default chunk size) make one sync each on the msync path: one flush call (an msync) and one fence",
          arguments: [64, 4096])
    func loggedWriteBudget(size: Int) throws {
        let scratch = Scratch(on: "/dev/shm")
        let counter = PersistenceCounter()
        let pool = try counter.create(at: scratch.path("pool"), capacity: 8 << 20)
        #expect(pool.chunkSize == 2 << 20)
        #expect(pool.ioInfo.storeGranularity == .page)
        #expect(pool.defersApply)
        // The first write to a chunk, then two more to it: the third
        // overwrites the first one's slot, whose apply the second's sync made
        // durable, so it needs no sync of its own.
        for offset in [4096, 8192 + 64, 12288 + 8] {
            let (counted, tallied) = try Self.countOneWrite(pool, counter, size: size, at: offset)
            #expect(counted.fences == 1, "\(counted)")
            #expect(counted.flushCalls == 1, "\(counted)")
            #expect(counted.fences == tallied, "the pool's own tally says \(tallied) fences")
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            #expect(try pool.read(at: offset, count: size) == bytes, "the view shows the write at once")
        }
        // An in-place write over the chunk kills its records first (one
        // sync for each of the two, the older first; docs/FORMAT.md, D3),
        // then stores and flushes: three msync calls, once.
        let before = counter.counts
        try pool.write([1, 2, 3, 4, 5, 6, 7, 8], at: 4096)
        #expect((counter.counts - before).flushCalls == 3, "\(counter.counts - before)")
        let again = counter.counts
        try pool.write([8, 7, 6, 5, 4, 3, 2, 1], at: 4096)
        #expect((counter.counts - again).flushCalls == 1, "no record left to kill: \(counter.counts - again)")
    }

    @Test("a remapped whole-chunk write makes 2 flush calls (msyncs) and 2 fences: its page-table entry waits for the next sync")
    func remappedChunkWrite() throws {
        let scratch = Scratch(on: "/dev/shm")
        let counter = PersistenceCounter()
        let pool = try counter.create(at: scratch.path("pool"), capacity: 8 << 20)
        let chunk = pool.chunkSize
        let (counted, tallied) = try Self.countOneWrite(pool, counter, size: chunk, at: chunk)
        #expect(pool.statistics.remaps == 1)
        #expect(counted.flushCalls == 2, "\(counted)")
        #expect(counted.fences == 2, "\(counted)")
        #expect(counted.fences == tallied)
        // The chunk's new contents, the record (the page-table entry is
        // deferred, docs/FORMAT.md, "Deferred apply").
        #expect(counted.linesFlushed >= chunk / 64 + 1, "\(counted)")
    }

    @Test("counted persistence still persists: the bytes are there after a reopen without a counter")
    func countingForwards() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        let counter = PersistenceCounter()
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0) }
        do {
            let pool = try counter.create(at: path, capacity: 4 << 20)
            try pool.write(bytes, at: 1000)
        }
        #expect(counter.fences > 0 && counter.flushCalls > 0 && counter.linesFlushed > 0)
        counter.reset()
        #expect(counter.counts == PersistenceCounts())
        let reopened = try Pool.open(at: path)
        #expect(try reopened.read(at: 1000, count: 300) == bytes)
        #expect(counter.counts == PersistenceCounts(), "a pool opened without the counter is not counted")
    }

    @Test("the counter and the simulator take paths in a String, as the rest of the API does")
    func stringPaths() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path: String = scratch.path("pool").string
        let counter = PersistenceCounter()
        let created = try counter.create(at: path, capacity: 8 << 20)
        try created.write([1, 2, 3], at: 4096)
        #expect(counter.fences > 0)
        created.close()
        let reopened = try counter.open(at: path)
        #expect(try reopened.read(at: 4096, count: 3) == [1, 2, 3])
        reopened.close()
        let file: String = scratch.file("mapped", count: 4096).string
        let map = try CrashSimulator().map(path: file)
        #expect(map.count == 4096)
    }
}
