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
        let path = scratchFile("/dev/shm", "page8", size: 1 << 20)
        defer { remove(path) }
        let map = try Mapping(path: path)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            try map.store(UInt64(i), at: 64)
            try map.persist(64..<72)
        }
    }

    Benchmark("peer: store + raw msync(MS_SYNC) of the page") { benchmark in
        let path = scratchFile("/dev/shm", "raw8", size: 1 << 20)
        defer { remove(path) }
        let map = try Mapping(path: path)
        let base = try map.withUnsafeMutableBytes { $0.baseAddress! }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            base.storeBytes(of: UInt64(i), toByteOffset: 64, as: UInt64.self)
            _ = msync(base, 4096, MS_SYNC)
        }
    }

    Benchmark("store+persist 8 B, forced cache line (clwb/clflushopt + sfence)") { benchmark in
        setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 1)
        defer { unsetenv("PMEM2_FORCE_GRANULARITY") }
        let path = scratchFile("/dev/shm", "cl8", size: 1 << 20)
        defer { remove(path) }
        let map = try Mapping(path: path)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            try map.store(UInt64(i), at: 64)
            try map.persist(64..<72)
        }
    }

    // MARK: 4 KiB persist and 64 KiB copies on the cache-flush path

    Benchmark("persist 4 KiB, forced cache line") { benchmark in
        setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 1)
        defer { unsetenv("PMEM2_FORCE_GRANULARITY") }
        let path = scratchFile("/dev/shm", "cl4k", size: 1 << 20)
        defer { remove(path) }
        let map = try Mapping(path: path)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            try map.set(UInt8(truncatingIfNeeded: i), in: 4096..<8192, flags: .noFlush)
            try map.persist(4096..<8192)
        }
    }

    for (name, flags) in [("non-temporal", MemoryFlags.nonTemporal), ("temporal", MemoryFlags.temporal)] {
        Benchmark("copy 64 KiB, \(name), forced cache line", configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2), maxIterations: 100)) { benchmark in
            setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 1)
            defer { unsetenv("PMEM2_FORCE_GRANULARITY") }
            let path = scratchFile("/dev/shm", "copy-\(name)", size: 1 << 20)
            defer { remove(path) }
            let map = try Mapping(path: path)
            let source = [UInt8](repeating: 0xA5, count: 65536)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                try source.withUnsafeBytes { try map.copy(from: $0, to: 0, flags: flags) }
            }
        }
    }

    // MARK: Opening: plain map vs sealed open (FIEMAP check) on ext4

    Benchmark("open+map 64 MiB file, plain (ext4)", configuration: opens) { benchmark in
        let path = scratchFile("/var/tmp", "plain-open", size: 0)
        remove(path)
        try SealedFile.create(at: path, size: 64 << 20)
        defer { remove(path) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let map = try Mapping(path: path)
            blackHole(map.count)
        }
        benchmark.stopMeasurement() // not the unlink of 64 MiB in the defer
    }

    Benchmark("open+map 64 MiB file, sealed: record + size + FIEMAP digest check (ext4)", configuration: opens) { benchmark in
        let path = scratchFile("/var/tmp", "sealed-open", size: 0)
        remove(path)
        try SealedFile.create(at: path, size: 64 << 20)
        defer { remove(path) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let map = try SealedFile.open(path).map()
            blackHole(map.count)
        }
        benchmark.stopMeasurement()
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
}
