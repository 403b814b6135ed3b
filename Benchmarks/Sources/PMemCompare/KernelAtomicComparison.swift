import Foundation
import Glibc
import PMDKPeers
import PMem
import PMemCrashTesting
import SystemPackage

/// `Pool.write` against the kernel's own failure-atomic write,
/// `pwritev2(RWF_ATOMIC | RWF_DSYNC)` with `O_DIRECT`, on one loop-mounted
/// xfs (`mkfs.xfs -m reflink=1`, mounted `-o max_atomic_write=4m`: xfs 6.16+
/// does atomic writes larger than a block by copy-on-write remap). The pool
/// there is on the msync path (page granularity: the run's forcing is lifted
/// for this stage). Skipped, saying why, without root, loop devices,
/// mkfs.xfs, the mount option or the kernel's atomic writes.
enum KernelAtomicComparison {
    static let fileBytes = 64 << 20
    static let imageMiB = 1024

    static func measure(repetitions: Int, quick: Bool, enabled: Bool) -> KernelAtomicResult {
        guard enabled else { return .skipped("--no-xfs") }
        guard getuid() == 0 else { return .skipped("loop mounts need root (uid \(getuid()))") }
        let id = "pmem-compare-\(getpid())-xfs"
        let image = "/var/tmp/\(id).img", mountPoint = "/var/tmp/\(id).mnt"
        var mounted = false
        defer {
            if mounted { _ = run(["umount", mountPoint]) }
            rmdir(mountPoint)
            unlink(image)
        }
        guard FileManager.default.createFile(atPath: image, contents: nil), truncate(image, off_t(imageMiB) << 20) == 0 else {
            return .skipped("cannot make the image \(image)")
        }
        if let failure = run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", image]) { return .skipped("mkfs.xfs -m reflink=1 failed: \(failure)") }
        mkdir(mountPoint, 0o700)
        if let failure = run(["mount", "-o", "loop,max_atomic_write=4m", image, mountPoint]) {
            return .skipped("cannot mount the xfs image -o loop,max_atomic_write=4m: \(failure)")
        }
        mounted = true
        // The msync path: libpmem2 reads PMEM2_FORCE_GRANULARITY at every mapping.
        let forced = getenv("PMEM2_FORCE_GRANULARITY").map { String(cString: $0) }
        unsetenv("PMEM2_FORCE_GRANULARITY")
        defer { if let forced { setenv("PMEM2_FORCE_GRANULARITY", forced, 1) } }
        do {
            return try measureMounted(FilePath(mountPoint), repetitions: repetitions, quick: quick)
        } catch {
            return .skipped("on the xfs: \(error)")
        }
    }

    private static func measureMounted(_ directory: FilePath, repetitions: Int, quick: Bool) throws -> KernelAtomicResult {
        let filePath = directory.appending("atomic").string
        let largest = 4 << 20
        Console.progress("xfs: writing the O_DIRECT file for RWF_ATOMIC (\(Workload.label(fileBytes)))")
        let handle = try openHandle("O_DIRECT file on the xfs") { peer_atomic_open(filePath, fileBytes, largest, $0, $1) }
        defer { peer_atomic_close(handle) }
        let offered = try Mapping(path: FilePath(filePath), access: .readOnly).ioInfo.kernelAtomicWrite
        guard let limits = offered.limits else {
            return .skipped("the kernel offers no atomic writes here: \(offered)")
        }
        let wanted = quick ? [4 << 10, 64 << 10, 1 << 20] : [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20]
        let sizes = wanted.filter { $0 >= limits.unitMin && $0 <= limits.unitMax }
        Console.progress("xfs: creating a pool of \(Workload.label(Workload.regionSize)) beside it")
        let poolPath = directory.appending("pool")
        var result = KernelAtomicResult(skipped: nil, setup: "loop-mounted xfs (mkfs.xfs -m reflink=1, mount -o max_atomic_write=4m), image in /var/tmp, O_DIRECT",
                                        kernelAtomicWrite: offered.description, poolGranularity: "", sizes: [],
                                        sizesOutsideLimits: wanted.filter { !sizes.contains($0) })
        do {
            let pool = try Pool.create(at: poolPath, capacity: Workload.regionSize, chunkSize: Workload.chunkSize,
                                       spareCapacity: Workload.spareCapacity, lanes: Workload.poolLanes)
            result.poolGranularity = pool.ioInfo.storeGranularity.description
            for size in sizes {
                result.sizes.append(try measure(size: size, pool: pool, handle: handle, repetitions: repetitions, quick: quick))
            }
        }
        // The counted pass, on the same pool file reopened through a counter.
        let counter = PersistenceCounter()
        let counted = try counter.open(at: poolPath)
        for i in result.sizes.indices {
            let size = result.sizes[i].size
            result.sizes[i].poolCounts = try CountedPass.count(counted, counter, size: size, writes: min(result.sizes[i].iterations, 8),
                                                               warmUp: false)
        }
        return result
    }

    static func iterations(size: Int, quick: Bool) -> Int {
        let full = switch size {
        case ...(16 << 10): 128
        case ...(256 << 10): 48
        case ...(1 << 20): 16
        default: 8
        }
        return quick ? max(2, full / 4) : full
    }

    private static func measure(size: Int, pool: Pool, handle: OpaquePointer, repetitions: Int, quick: Bool) throws -> KernelAtomicSize {
        let iterations = iterations(size: size, quick: quick)
        Console.progress("xfs, writes of \(Workload.label(size)): Pool.write and RWF_ATOMIC|RWF_DSYNC, \(repetitions) × \(iterations) each")
        let payload = Workload.payload(size: size)
        payload.withUnsafeBytes { peer_atomic_fill(handle, $0.baseAddress, $0.count) }
        let slots = min(fileBytes / size, Workload.offsetSlots)
        let contenders = [
            Contender(name: "pool") {
                let start = Timing.now()
                for i in 0..<iterations { try pool.write(payload, at: (i % slots) * size) }
                return Timing.now() - start
            },
            Contender(name: "kernel") {
                let start = Timing.now()
                for i in 0..<iterations {
                    let status = peer_atomic_write(handle, (i % slots) * size, size)
                    guard status == 0 else {
                        throw PeerFailure("pwritev2(RWF_ATOMIC | RWF_DSYNC) of \(Workload.label(size)): \(String(cString: strerror(status)))")
                    }
                }
                return Timing.now() - start
            },
        ]
        try Timing.warmUp(contenders)
        let samples = try Timing.interleaved(contenders, repetitions: repetitions)
        let perOp = samples.map { $0.map { Double($0) / Double(iterations) } }
        let poolMedian = Timing.median(perOp[0]), kernelMedian = Timing.median(perOp[1])
        return KernelAtomicSize(size: size, iterations: iterations, poolRepetitionNsPerOp: perOp[0],
                                kernelRepetitionNsPerOp: perOp[1], poolMedianNsPerOp: poolMedian,
                                kernelMedianNsPerOp: kernelMedian, poolOverKernel: kernelMedian > 0 ? poolMedian / kernelMedian : 0)
    }

    /// Runs a command from PATH; nil on success, else what went wrong.
    private static func run(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { return "\(arguments[0]): \(error)" }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 0 { return nil }
        let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        return "exit \(process.terminationStatus)\(text.isEmpty ? "" : ": \(text)")"
    }
}

/// The xfs stage: skipped (and why), or the figures.
struct KernelAtomicResult: Codable {
    /// Why the stage did not run; nil when it did.
    var skipped: String?
    var setup: String
    /// statx STATX_WRITE_ATOMIC for the O_DIRECT file, as IOInfo.kernelAtomicWrite reports it.
    var kernelAtomicWrite: String
    var poolGranularity: String
    var sizes: [KernelAtomicSize]
    /// Sizes asked for but outside the kernel's unit min..max.
    var sizesOutsideLimits: [Int]

    static func skipped(_ reason: String) -> KernelAtomicResult {
        KernelAtomicResult(skipped: reason, setup: "", kernelAtomicWrite: "", poolGranularity: "", sizes: [], sizesOutsideLimits: [])
    }

    func size(_ bytes: Int) -> KernelAtomicSize? { sizes.first { $0.size == bytes } }
}

/// One size on the xfs: both writers, and the pool's counted calls.
struct KernelAtomicSize: Codable {
    var size: Int
    var iterations: Int
    var poolRepetitionNsPerOp: [Double]
    var kernelRepetitionNsPerOp: [Double]
    var poolMedianNsPerOp: Double
    var kernelMedianNsPerOp: Double
    /// Pool median over the kernel's: at most 1.5 is the target.
    var poolOverKernel: Double
    /// Fences and msync calls per Pool.write on this file system (counted pass).
    var poolCounts: CountedResult?
}
