import PMem
import SystemPackage

/// `--loop BYTES`: Pool.write of one size, the pool's default configuration
/// as in the sweep, written for about two seconds with nothing else in the
/// process, so that a profiler sees that path alone.
enum PoolLoop {
    static func run(size: Int, scratch: Scratch) throws {
        let peer = PoolPeer(path: scratch.path("pool"))
        try peer.setUp()
        defer { peer.tearDown() }
        guard let pool = peer.pool else { throw PeerFailure("the pool did not open") }
        let payload = Workload.payload(size: size)
        var writes = 0
        let start = Timing.now()
        var elapsed: UInt64 = 0
        while elapsed < 2_000_000_000 {
            for _ in 0..<1000 {
                try pool.write(payload, at: Workload.offset(size: size, iteration: writes))
                writes += 1
            }
            elapsed = Timing.now() - start
        }
        let words = pool.wordPersistence.map { ", in-place words \($0.rawValue)" } ?? ""
        print("\(Workload.label(size)): \(writes) writes, \(Double(elapsed) / Double(writes)) ns per write\(words)")
    }
}
