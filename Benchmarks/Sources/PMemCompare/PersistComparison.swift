import Glibc
import PMDKPeers
import PMem
import SystemPackage

/// What the Swift wrapper adds to a persist: `Mapping.store` + `persist` in
/// a Swift loop against the same store + libpmem2 persist looped and timed
/// in C, each on its own /dev/shm-like file of the run's directory.
enum PersistComparison {
    static let fileSize = 1 << 20

    static func measure(scratch: Scratch, repetitions: Int, quick: Bool) throws -> PersistResult {
        let iterations = quick ? 25_000 : 100_000
        Console.progress("persist: Swift against C, \(repetitions) × \(iterations) store+persist each")
        let swiftPath = scratch.path("persist-swift")
        try makeFile(swiftPath, size: fileSize)
        let swift = try SwiftPersistLoop(path: FilePath(swiftPath))
        let cPath = scratch.path("persist-c")
        let raw = try openHandle("raw libpmem2 mapping for the C loop") { peer_raw_open(cPath, fileSize, $0, $1) }
        defer { peer_raw_close(raw) }

        let contenders = [
            Contender(name: "Swift") { try swift.run(iterations) },
            Contender(name: "C") { peer_raw_persist_loop_ns(raw, 64, 8, iterations) },
        ]
        try Timing.warmUp(contenders)
        let samples = try Timing.interleaved(contenders, repetitions: repetitions)
        let perOp = samples.map { $0.map { Double($0) / Double(iterations) } }
        let swiftMedian = Timing.median(perOp[0]), cMedian = Timing.median(perOp[1])
        return PersistResult(
            iterations: iterations, swiftGranularity: swift.granularity,
            cGranularity: String(cString: peer_raw_granularity(raw)),
            swiftRepetitionNsPerOp: perOp[0], cRepetitionNsPerOp: perOp[1],
            swiftMedianNsPerOp: swiftMedian, cMedianNsPerOp: cMedian,
            ratio: cMedian > 0 ? swiftMedian / cMedian : 0)
    }

    /// A file of `size` zero bytes (a `Mapping` maps an existing file).
    private static func makeFile(_ path: String, size: Int) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw PeerFailure("creating \(path): \(String(cString: strerror(errno)))") }
        defer { _ = close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            throw PeerFailure("sizing \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// The Swift side: a class, so that escaping closures can reach the
/// non-copyable `Mapping`.
private final class SwiftPersistLoop {
    let map: Mapping

    init(path: FilePath) throws(PMemError) {
        map = try Mapping(path: path, access: .readWrite)
    }

    var granularity: String { map.ioInfo.storeGranularity.description }

    func run(_ iterations: Int) throws -> UInt64 {
        let start = Timing.now()
        for i in 0..<iterations {
            try map.store(UInt64(i), at: 64)
            try map.persist(64..<72)
        }
        return Timing.now() - start
    }
}
