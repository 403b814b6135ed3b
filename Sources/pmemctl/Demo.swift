import ArgumentParser
import Glibc
import PMem
import Synchronization
import SystemPackage

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what swift-pmem does, in under a minute: I/O facts, a sealed file, atomic writes, a crash and its recovery.")
    @Argument(help: "Where to put the demo's files (default: $PMEM_DIR, else /dev/shm). They are removed at the end.")
    var directory: String?

    func run() throws {
        let dir = FilePath(directory ?? defaultDirectory())
        let sealedPath = dir.appending("swift-pmem-demo-sealed")
        let poolPath = dir.appending("swift-pmem-demo-pool")
        for p in [sealedPath, poolPath] { unlink(p.string) }
        defer { for p in [sealedPath, poolPath] { unlink(p.string) } }
        try reportingErrors { () throws(PMemError) in
            try demo(sealedPath: sealedPath, poolPath: poolPath)
        }
    }

    private func demo(sealedPath: FilePath, poolPath: FilePath) throws(PMemError) {
        section("1. A sealed file: allocated, written and its block map frozen, so stores never change it")
        let (report, createTime) = try timed { () throws(PMemError) in try SealedFile.create(at: sealedPath, size: 8 << 20) }
        print("created 8 MiB at \(sealedPath) in \(createTime)")
        print(report)
        let map = try SealedFile.open(sealedPath).map()
        print("\nwhat the mapping can promise (the F_IOINFO of this file):")
        print(map.ioInfo)
        if !map.ioInfo.persistence.isDurable {
            print("note: this directory is not DAX; set PMEM_DIR to an fsdax mount for real persistence")
        }

        section("2. The hardware atomic unit: an aligned 8-byte store, then persist")
        let (_, storeTime) = try timed { () throws(PMemError) in
            try map.store(UInt64(42), at: 0)
            try map.persist(0..<8)
        }
        print("stored and persisted 8 bytes in \(storeTime): after a crash, the old value or 42, never a mix")

        section("3. A failure-atomic pool: writes of any size up to its spare capacity are all-or-nothing")
        let (pool, poolTime) = try timed { () throws(PMemError) in
            try Pool.create(at: poolPath, capacity: 16 << 20, chunkSize: 1 << 20, spareCapacity: 4 << 20)
        }
        print("created a 16 MiB pool (1 MiB chunks, 4 MiB spare) in \(poolTime)")
        for size in [8, 256, 64 << 10, 1 << 20, 3 << 20] {
            let before = pool.statistics
            let bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: size), count: size)
            let (_, t) = try timed { () throws(PMemError) in try pool.write(bytes, at: size == 3 << 20 ? 8 << 20 : 4 << 20) }
            let after = pool.statistics
            let path = after.remaps > before.remaps ? "written aside and remapped"
                : after.logBytes > before.logBytes ? "logged, then applied" : "stored in place"
            print("  \(format(size)) atomic write: \(t), \(path)")
        }
        print("write amplification so far: \(String(format2: pool.statistics.writeAmplification)) media bytes per byte")

        section("4. A crash: a child process writes 1 MiB over the pool and is killed at a chosen point")
        let old = [UInt8](repeating: 0xAA, count: 1 << 20)
        try pool.write(old, at: 0)
        let poolFile = poolPath.string
        pool.close()   // the children open it
        for point in [DemoCrashChild.Point.beforeCommit, .afterCommit] {
            let status = crashChild(pool: poolFile, point: point)
            let (reopened, openTime) = try timed { () throws(PMemError) in try Pool.open(at: poolPath) }
            let bytes = try reopened.read(at: 0, count: 1 << 20)
            let state = bytes.allSatisfy { $0 == 0xAA } ? "all old" : bytes.allSatisfy { $0 == 0xBB } ? "all new" : "TORN"
            print("  killed \(point == .beforeCommit ? "before" : "after") the commit point (\(status));")
            print("    reopened in \(openTime), \(reopened.recoveredCommits) commit record replayed by recovery: the 1 MiB is \(state)")
            // Killed before the commit point: all old; after it: all new.
            // Anything else is a broken guarantee, and the demo fails.
            let expected = point == .beforeCommit ? "all old" : "all new"
            guard state == expected else {
                throw PMemError(.poolCorrupt, "the demo saw \(state) where a child killed \(point == .beforeCommit ? "before" : "after") the commit point must leave \(expected)", path: poolPath)
            }
            print("    \(try reopened.check())")
        }
        print("\nFor power loss (not just a process crash), the test suite replays every crash state")
        print("of a simulated persistence domain: see docs/TESTING.md.")
    }

    /// Runs `pmemctl demo-crash-child`, which dies by SIGKILL at `point`.
    private func crashChild(pool: String, point: DemoCrashChild.Point) -> String {
        let exe = "/proc/self/exe"
        let args = [exe, "demo-crash-child", pool, point.rawValue]
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid = pid_t()
        guard posix_spawn(&pid, exe, nil, nil, &cArgs, environ) == 0 else { return "could not start the child" }
        var status: CInt = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == SIGKILL ? "SIGKILL" : signal != 0 ? "signal \(signal)" : "exit \((status >> 8) & 0xff)"
    }

    private func section(_ title: String) { print("\n== \(title)") }

    private func defaultDirectory() -> String {
        if let dir = getenv("PMEM_DIR"), dir.pointee != 0 { return String(cString: dir) }
        return "/dev/shm"
    }
}

/// The child of the demo's crash: one atomic write of 1 MiB of 0xBB (a
/// whole chunk: written into a spare chunk, then remapped) that kills its
/// process at one of the write's fences, as a power cut would stop it (the
/// page cache or the DIMM keeps what was stored). The fences are seen
/// through the pool's persistence interposer, the seam a counting or
/// crashing test harness uses: no test hook of the library is needed, so
/// this works in a release build too.
struct DemoCrashChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo-crash-child", shouldDisplay: false)
    @Argument var path: String
    @Argument var point: Point

    enum Point: String, ExpressibleByArgument {
        /// At the first fence (the spare chunk's data), before the record is written.
        case beforeCommit = "before-commit"
        /// When the second fence (the commit point's, a sync on the msync
        /// path) returns, before the page-table entry is stored.
        case afterCommit = "after-commit"
    }

    func run() throws {
        let point = self.point
        try reportingErrors { () throws(PMemError) in
            let fences = Atomic<Int>(0)
            let pool = try Pool.open(at: FilePath(path), interposedBy: { real in
                var calls = real
                calls.drain = {
                    let fence = fences.wrappingAdd(1, ordering: .relaxed).newValue
                    if point == .beforeCommit && fence == 1 { kill(getpid(), SIGKILL) }
                    real.drain()
                    if point == .afterCommit && fence == 2 { kill(getpid(), SIGKILL) }
                }
                return calls
            })
            // The write's own fences: the open's (recovery, the shutdown
            // record) do not count.
            fences.store(0, ordering: .relaxed)
            try pool.write([UInt8](repeating: 0xBB, count: 1 << 20), at: 0)
        }
        throw ExitCode(3)   // The fence was never reached.
    }
}

func timed<R>(_ body: () throws(PMemError) -> R) throws(PMemError) -> (R, String) {
    var start = timespec(), end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    let result = try body()
    clock_gettime(CLOCK_MONOTONIC, &end)
    let ns = Double(end.tv_sec - start.tv_sec) * 1e9 + Double(end.tv_nsec - start.tv_nsec)
    let text = ns < 1e3 ? "\(Int(ns)) ns" : ns < 1e6 ? "\(String(format2: ns / 1e3)) µs" : "\(String(format2: ns / 1e6)) ms"
    return (result, text)
}

func format(_ bytes: Int) -> String {
    bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : bytes >= 1 << 10 ? "\(bytes >> 10) KiB" : "\(bytes) B"
}

extension String {
    /// Two decimals, without Foundation.
    init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let frac = abs(hundredths % 100)
        self = "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
    }
}
