@testable import PMemSystem
@testable import PMemPool
import PMem
import PMemTestSupport
import Testing

/// Offsets and ranges at the edges of Int and of the pool: every one is an
/// `outOfBounds` error, none a trap.
@Suite("Pool bounds: outOfBounds at every edge, no overflow traps")
struct PoolBoundsTests {
    @Test("the shared check: a count of 0 fits at the end, nothing fits past it, no operand overflows")
    func sharedCheck() {
        #expect(fits(0, 0, in: 0))
        #expect(fits(10, 0, in: 10))
        #expect(fits(2, 8, in: 10))
        #expect(!fits(3, 8, in: 10))
        #expect(!fits(-1, 1, in: 10))
        #expect(!fits(1, -1, in: 10))
        #expect(!fits(11, 0, in: 10))
        #expect(!fits(Int.max, Int.max, in: 10))
        #expect(!fits(8, Int.max, in: 10))
        #expect(checkedCount(Int.min..<1) == nil)
        #expect(checkedCount(-5..<5) == 10)
    }

    static let edges: [(Int, Int)] = [(Int.min, 1), (-1, 2), (Int.max - 3, 8), (16 * 65536, 1), (16 * 65536 - 4, 8)]

    @Test("persist, read, load, write and storeUncommitted refuse ranges past the pool or Int, as outOfBounds",
          arguments: edges)
    func poolEdges(offset: Int, count: Int) throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let bytes = [UInt8](repeating: 1, count: count)
        #expect((try? pool.read(at: offset, count: count)) == nil)
        #expect(throws: PMemError.self) { try pool.write(bytes, at: offset) }
        #expect(throws: PMemError.self) { try pool.storeUncommitted(UInt8(1), at: offset < 0 ? offset : pool.capacity) }
        #expect(throws: PMemError.self) { try pool.load(UInt64.self, at: offset) }
        let end = offset.addingReportingOverflow(count)
        if !end.overflow {
            let error = #expect(throws: PMemError.self) { try pool.persist(offset..<end.partialValue) }
            #expect(error?.code == .outOfBounds)
        }
        let error = #expect(throws: PMemError.self) { try pool.persist(Int.min..<1) }
        #expect(error?.code == .outOfBounds)
    }

    @Test("a transaction's loads ignore its own pending write past Int or the pool; its commit refuses it")
    func transactionPendingOutOfBounds() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let error = #expect(throws: PMemError.self) {
            try pool.transaction { tx throws(PMemError) in
                tx.write([7], at: 0)
                tx.write([1, 2, 3], at: Int.max - 1)
                #expect(try tx.read(at: 0, count: 8) == [7, 0, 0, 0, 0, 0, 0, 0])
            }
        }
        #expect(error?.code == .outOfBounds)
        #expect(try pool.read(at: 0, count: 1) == [0])
    }
}
