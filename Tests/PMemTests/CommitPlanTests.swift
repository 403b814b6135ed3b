@testable import PMemSystem
@testable import PMemPool
import Testing

/// The commit planner on its own: no pool, no file, only the writes and the
/// pool's geometry in, the route out.
@Suite("Commit plan: what goes in place, what is logged, what is remapped")
struct CommitPlanTests {
    /// 16 chunks of 4 KiB, a lane body of 4032 bytes, 2 spare chunks.
    let geometry = CommitPlan.Geometry(capacity: 16 * 4096, chunkSize: 4096, laneBodyCapacity: 4096 - 64, spareChunks: 2)

    func bytes(_ n: Int, _ value: UInt8 = 0xAB) -> [UInt8] { [UInt8](repeating: value, count: n) }

    func plan(_ writes: [(offset: Int, bytes: [UInt8])]) throws -> CommitPlan {
        guard case .planned(let plan) = try CommitPlan.route(writes, in: geometry) else {
            Issue.record("expected a planned commit")
            throw PMemError(.invalidArgument, "not planned")
        }
        return plan
    }

    @Test("empty writes are nothing to do, but are still bounds-checked")
    func emptyWrites() throws {
        #expect(try CommitPlan.route([], in: geometry) == .nothing)
        #expect(try CommitPlan.route([(0, []), (4096, [])], in: geometry) == .nothing)
        #expect(try CommitPlan.route([(geometry.capacity, [])], in: geometry) == .nothing)
        #expect(throws: PMemError.self) { try CommitPlan.route([(geometry.capacity + 1, [])], in: geometry) }
    }

    @Test("a write outside the pool is refused as outOfBounds, with no overflow", arguments: [
        (-1, 1), (16 * 4096, 1), (16 * 4096 - 4, 8), (Int.max - 2, 8), (8, 16 * 4096),
    ])
    func outOfBounds(offset: Int, count: Int) {
        let error = #expect(throws: PMemError.self) { try CommitPlan.route([(0, bytes(8)), (offset, bytes(count))], in: geometry) }
        #expect(error?.code == .outOfBounds)
    }

    @Test("one write inside one chunk, or one aligned word, takes the one-write fast paths")
    func singleWrites() throws {
        #expect(try CommitPlan.route([(100, bytes(64))], in: geometry) == .single(offset: 100, bytes: bytes(64)))
        #expect(try CommitPlan.route([(4096, bytes(4096))], in: geometry) == .single(offset: 4096, bytes: bytes(4096)))
        // Empty writes beside it do not make it a plan.
        #expect(try CommitPlan.route([(0, []), (8, bytes(8)), (9000, [])], in: geometry) == .single(offset: 8, bytes: bytes(8)))
    }

    @Test("two small writes in one chunk are logged together, in write order")
    func twoWritesOneChunk() throws {
        let p = try plan([(8, bytes(16, 1)), (100, bytes(3, 2))])
        #expect(p.touched == [0])
        #expect(p.logged == [0])
        #expect(p.remapped.isEmpty)
        #expect(p.logEntries == [.data(offset: 8, bytes: bytes(16, 1)), .data(offset: 100, bytes: bytes(3, 2))])
        // Entry heads of 24 bytes, payloads padded to 8.
        #expect(p.bodySize == (24 + 16) + (24 + 8))
        #expect(p.requested == 19)
    }

    @Test("overlapping writes keep both pieces, the later one last (it wins when applied)")
    func overlappingWrites() throws {
        let p = try plan([(0, bytes(32, 1)), (16, bytes(32, 2))])
        #expect(p.logEntries == [.data(offset: 0, bytes: bytes(32, 1)), .data(offset: 16, bytes: bytes(32, 2))])
    }

    @Test("a write across a chunk boundary is split into one piece per chunk")
    func splitAcrossChunks() throws {
        let p = try plan([(4096 - 10, bytes(20))])
        #expect(p.touched == [0, 1])
        #expect(p.logged == [0, 1])
        #expect(p.logEntries == [.data(offset: 4086, bytes: bytes(10)), .data(offset: 4096, bytes: bytes(10))])
    }

    @Test("a chunk the writes cover wholly is remapped; the partial rest is logged")
    func wholeChunkRemapped() throws {
        let p = try plan([(4096, bytes(4096 + 100))])
        #expect(p.touched == [1, 2])
        #expect(p.remapped.map(\.logical) == [1])
        #expect(p.remapped[0].pieces == [CommitPlan.Piece(offset: 4096, bytes: bytes(4096)[...])])
        #expect(p.logged == [2])
        #expect(p.bodySize == 24 + (24 + 104))
    }

    @Test("pieces that together cover a chunk remap it, however they are split")
    func coveredByPieces() throws {
        let p = try plan([(0, bytes(2048, 1)), (2048, bytes(2048, 2)), (8192, bytes(8))])
        #expect(p.remapped.map(\.logical) == [0])
        #expect(p.remapped[0].pieces.count == 2)
        #expect(CommitPlan.uncovered(p.remapped[0].pieces, chunk: 0, size: 4096).isEmpty)
    }

    @Test("past half a chunk, a partial chunk is remapped rather than logged, while spares last")
    func crossover() throws {
        let half = try plan([(0, bytes(2048)), (8192, bytes(8))])
        #expect(half.logged == [0, 2], "half a chunk is still logged")
        let more = try plan([(0, bytes(2049)), (8192, bytes(8))])
        #expect(more.remapped.map(\.logical) == [0])
        #expect(more.logged == [2])
        // Three chunks past half, two spares: the largest two are remapped,
        // the third stays logged (it fits the lane).
        let three = try plan([(0, bytes(2100)), (4096, bytes(2300)), (8192, bytes(2200))])
        #expect(three.remapped.map(\.logical) == [1, 2])
        #expect(three.logged == [0])
    }

    @Test("the uncovered ranges of a chunk are its gaps between pieces, merged and ascending")
    func uncoveredRanges() {
        let pieces = [CommitPlan.Piece(offset: 4096 + 100, bytes: bytes(50)[...]),
                      CommitPlan.Piece(offset: 4096 + 10, bytes: bytes(100)[...]),
                      CommitPlan.Piece(offset: 4096 + 4000, bytes: bytes(96)[...])]
        #expect(CommitPlan.uncovered(pieces, chunk: 1, size: 4096) == [0..<10, 150..<4000])
        #expect(CommitPlan.uncovered([], chunk: 3, size: 4096) == [0..<4096])
    }

    @Test("an update needing more spare chunks than the pool has is updateTooLarge")
    func tooManyRemaps() {
        let error = #expect(throws: PMemError.self) { try CommitPlan.route([(0, bytes(3 * 4096))], in: geometry) }
        #expect(error?.code == .updateTooLarge)
        // Two whole chunks is exactly the spare capacity.
        #expect(throws: Never.self) { try CommitPlan.route([(0, bytes(2 * 4096))], in: geometry) }
    }

    @Test("a log too large for the lane moves its biggest chunks to remaps, or is updateTooLarge")
    func laneOverflow() throws {
        // No spares: chunks past half stay logged; together they overflow the lane.
        let noSpares = CommitPlan.Geometry(capacity: 16 * 4096, chunkSize: 4096, laneBodyCapacity: 4096 - 64, spareChunks: 0)
        let error = #expect(throws: PMemError.self) {
            try CommitPlan.route([(0, bytes(2000)), (4096, bytes(2000)), (8192, bytes(2000))], in: noSpares)
        }
        #expect(error?.code == .updateTooLarge)
        // With spares, the largest logged chunk goes to a remap until the rest fits.
        let p = try plan([(0, bytes(1500)), (4096, bytes(1900)), (8192, bytes(1600))])
        #expect(p.remapped.map(\.logical) == [1])
        #expect(p.logged == [0, 2])
        #expect(p.bodySize <= geometry.laneBodyCapacity)
    }
}
