// Costs of the persistence paths and of sealing, each next to a peer measured
// in the same run (timings on shared machines are noisy: compare ratios).
import Benchmark
import Foundation
import Glibc
import PMem
import SystemPackage

/// A scratch file of `size` bytes in `directory`, removed at exit.
func scratchFile(_ directory: String, _ name: String, size: Int) -> FilePath {
    let path = FilePath(directory).appending("swift-pmem-bench-\(getpid())-\(name)")
    _ = FileManager.default.createFile(atPath: path.string, contents: Data(count: size))
    return path
}

func remove(_ path: FilePath) { _ = unlink(path.string) }

/// Runs `body` with the path of a new 64 MiB sealed file on ext4 (/var/tmp).
func withSealedFile(_ name: String, _ body: (FilePath) throws -> Void) throws {
    let path = FilePath("/var/tmp").appending("swift-pmem-bench-\(getpid())-\(name)")
    try SealedFile.create(at: path, size: 64 << 20, replaceExisting: true)
    defer { remove(path) }
    try body(path)
}

/// Runs `body` with a mapping of a new 1 MiB file in /dev/shm, optionally
/// with the cache-flush path forced (the variable is read when mapping).
func withScratchMapping(_ name: String, forcedCacheLine: Bool = false, _ body: (borrowing Mapping) throws -> Void) throws {
    let path = scratchFile("/dev/shm", name, size: 1 << 20)
    defer { remove(path) }
    if forcedCacheLine { setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 1) }
    let map = try Mapping(path: path)
    unsetenv("PMEM2_FORCE_GRANULARITY")
    try body(map)
}

let benchmarks: @Sendable () -> Void = {
    // Each sample runs 1000 iterations; results are per iteration.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1000
    )
    let once = Benchmark.Configuration(metrics: [.wallClock], warmupIterations: 1, scalingFactor: .one,
                                       maxDuration: .seconds(3), maxIterations: 30)
    let opens = Benchmark.Configuration(metrics: [.wallClock], warmupIterations: 1, scalingFactor: .kilo,
                                        maxDuration: .seconds(3), maxIterations: 10)

    // MARK: 8-byte store + persist: page cache (msync) vs raw msync vs forced cache line

    Benchmark("store+persist 8 B, page granularity (msync)") { benchmark in
        try withScratchMapping("page8") { map in
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                try map.store(UInt64(i), at: 64)
                try map.persist(64..<72)
            }
        }
    }

    Benchmark("peer: store + raw msync(MS_SYNC) of the page") { benchmark in
        try withScratchMapping("raw8") { map in
            let base = try map.withUnsafeMutableBytes { $0.baseAddress! }
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                base.storeBytes(of: UInt64(i), toByteOffset: 64, as: UInt64.self)
                _ = msync(base, 4096, MS_SYNC)
            }
        }
    }

    Benchmark("store+persist 8 B, forced cache line (clwb/clflushopt + sfence)") { benchmark in
        try withScratchMapping("cl8", forcedCacheLine: true) { map in
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                try map.store(UInt64(i), at: 64)
                try map.persist(64..<72)
            }
        }
    }

    // MARK: 4 KiB persist and 64 KiB copies on the cache-flush path

    Benchmark("persist 4 KiB, forced cache line") { benchmark in
        try withScratchMapping("cl4k", forcedCacheLine: true) { map in
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                try map.set(UInt8(truncatingIfNeeded: i), in: 4096..<8192, flags: .noFlush)
                try map.persist(4096..<8192)
            }
        }
    }

    for (name, flags) in [("non-temporal", MemoryFlags.nonTemporal), ("temporal", MemoryFlags.temporal)] {
        Benchmark("copy 64 KiB, \(name), forced cache line", configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2), maxIterations: 100)) { benchmark in
            try withScratchMapping("copy-\(name)", forcedCacheLine: true) { map in
                let source = [UInt8](repeating: 0xA5, count: 65536)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    try source.withUnsafeBytes { try map.copy(from: $0, to: 0, flags: flags) }
                }
            }
        }
    }

    // MARK: Opening: plain map vs sealed open (FIEMAP check) on ext4

    Benchmark("open+map 64 MiB file, plain (ext4)", configuration: opens) { benchmark in
        try withSealedFile("plain-open") { path in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let map = try Mapping(path: path)
                blackHole(map.count)
            }
            benchmark.stopMeasurement() // not the unlink of 64 MiB afterwards
        }
    }

    Benchmark("open+map 64 MiB file, sealed: record + size + FIEMAP digest check (ext4)", configuration: opens) { benchmark in
        try withSealedFile("sealed-open") { path in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let map = try SealedFile.open(path).map()
                blackHole(map.count)
            }
            benchmark.stopMeasurement()
        }
    }

    // MARK: Creating: sealed create vs writing zeros and fsync

    Benchmark("create 64 MiB sealed file (ext4)", configuration: once) { benchmark in
        let path = scratchFile("/var/tmp", "create", size: 0)
        remove(path)
        benchmark.startMeasurement()
        try SealedFile.create(at: path, size: 64 << 20)
        benchmark.stopMeasurement()
        remove(path)
    }

    Benchmark("peer: write 64 MiB of zeros + fsync (ext4)", configuration: once) { benchmark in
        let path = scratchFile("/var/tmp", "write", size: 0)
        remove(path)
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        benchmark.startMeasurement()
        let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
        for chunk in 0..<64 { _ = try fd.writeAll(toAbsoluteOffset: Int64(chunk << 20), zeros) }
        _ = fsync(fd.rawValue)
        try fd.close()
        benchmark.stopMeasurement()
        remove(path)
    }

    // MARK: Pool writes by size: which path each takes, and what it costs

    let poolSizes: [(String, Int, Int)] = [
        ("8 B aligned (in place)", 8, 8),
        ("256 B (log)", 256, 100),
        ("4 KiB (log)", 4096, 100),
        ("64 KiB (log)", 65536, 100),
        ("1 MiB inside a chunk (copy out, remap)", 1 << 20, 100),
        ("2 MiB - 4 KiB inside a chunk (copy out, remap)", (2 << 20) - 4096, 4096),
        ("2 MiB, one whole chunk (remap)", 2 << 20, 0),
    ]
    for (name, size, offset) in poolSizes {
        Benchmark("pool write \(name), 2 MiB chunks, forced cache line",
                  configuration: .init(metrics: [.wallClock], warmupIterations: 2, scalingFactor: .one,
                                       maxDuration: .seconds(2), maxIterations: 2000)) { benchmark in
            setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 1)
            defer { unsetenv("PMEM2_FORCE_GRANULARITY") }
            let path = FilePath("/dev/shm/swift-pmem-bench-\(getpid())-pool")
            remove(path)
            defer { remove(path) }
            let pool = try Pool.create(at: path, capacity: 16 << 20)
            let bytes = [UInt8](repeating: 0x5A, count: size)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                try pool.write(bytes, at: 4 << 20 | offset)
            }
            benchmark.stopMeasurement()
        }
    }
}
