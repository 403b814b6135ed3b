@testable import PMemPool
import PMem
import PMemTestSupport
import Testing

@Suite("Pool.check: the media against what a replay would do")
struct PoolCheckTests {
    @Test("msync path: two overlapping logged writes valid in one lane pair are consistent; a stray store over the newer is not")
    func overlappingRecordsInAPair() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        #expect(pool.defersApply)
        try pool.write([UInt8](repeating: 1, count: 100), at: 0)
        try pool.write([UInt8](repeating: 2, count: 100), at: 50)
        // Both records are still valid, in the two slots of one pair: a
        // replay in sequence order ends with the newer one's bytes.
        let valid = (0..<pool.layout.laneCount).filter { lane in
            CommitRecord.decode(pool.file.base + pool.layout.laneOffset(lane), maxBody: pool.layout.laneSize - CommitRecord.headerSize) != nil
        }
        #expect(valid.count == 2)
        _ = try pool.check()
        // A stray store (not through the pool, which would kill the records
        // first) over bytes the newer record holds.
        (pool.file.base + pool.layout.chunkOffset(pool.pageTable[0]) + 120).storeBytes(of: 9, as: UInt8.self)
        #expect(throws: PMemError.self) { _ = try pool.check() }
    }
}
