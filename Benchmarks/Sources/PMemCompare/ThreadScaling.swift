import Glibc
import PMem
import Synchronization

/// One thread against two (and four): a fixed number of small pool writes split across
/// the threads, each thread in its own chunk, so only shared pool state
/// (lanes, counters, the lock table) can keep them from running in parallel.
enum ThreadScaling {
    static let writeSize = 256

    static func measure(pool: Pool, repetitions: Int, quick: Bool) throws -> ThreadResult {
        // Long enough that starting the threads (tens of µs each) is noise.
        let total = quick ? 100_000 : 400_000
        Console.progress("threads: \(total) writes of \(writeSize) B on 1, 2 and 4 threads, \(repetitions) times")
        let payload = Workload.payload(size: writeSize)
        let contenders = [1, 2, 4].map { threads in
            Contender(name: "\(threads) threads") { try run(pool, threads: threads, total: total, payload: payload) }
        }
        try Timing.warmUp(contenders)
        let samples = try Timing.interleaved(contenders, repetitions: repetitions)
        let opsPerSecond = samples.map { $0.map { Double(total) * 1e9 / Double(max($0, 1)) } }
        let one = Timing.median(opsPerSecond[0]), two = Timing.median(opsPerSecond[1]), four = Timing.median(opsPerSecond[2])
        return ThreadResult(writeBytes: writeSize, totalWrites: total,
                            oneThreadRepetitionOpsPerSecond: opsPerSecond[0], twoThreadRepetitionOpsPerSecond: opsPerSecond[1],
                            fourThreadRepetitionOpsPerSecond: opsPerSecond[2],
                            oneThreadOpsPerSecond: one, twoThreadOpsPerSecond: two, fourThreadOpsPerSecond: four,
                            speedup: one > 0 ? two / one : 0, fourThreadSpeedup: one > 0 ? four / one : 0)
    }

    /// Wall time of `total` writes on `threads` new threads; thread `t`
    /// writes in chunk `t` at the workload's rotating offsets.
    private static func run(_ pool: Pool, threads: Int, total: Int, payload: [UInt8]) throws -> UInt64 {
        let failures = FailureLog()
        let start = Timing.now()
        try runOnThreads(threads) { t in
            let share = total / threads + (t < total % threads ? 1 : 0)
            let base = t * Workload.chunkSize
            // A buffer of the thread's own: a shared array's reference count
            // (retained by every write call) would be a line both threads write.
            let mine = UnsafeMutableRawBufferPointer.allocate(byteCount: payload.count, alignment: 64)
            defer { mine.deallocate() }
            mine.copyBytes(from: payload)
            do {
                for i in 0..<share {
                    try pool.write(UnsafeRawBufferPointer(mine), at: base + Workload.offset(size: payload.count, iteration: i))
                }
            } catch {
                failures.add("thread \(t): \(error)")
            }
        }
        let elapsed = Timing.now() - start
        if let failure = failures.first { throw PeerFailure("pool write on several threads: \(failure)") }
        return elapsed
    }
}

/// Runs `body(t)` for t in 0..<count, each on a new POSIX thread (so two
/// threads really run at once), and waits for all of them.
private func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) throws {
    var threads: [pthread_t] = []
    defer { for thread in threads { pthread_join(thread, nil) } }
    for t in 0..<count {
        let start = Unmanaged.passRetained(ThreadStart { body(t) }).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context -> UnsafeMutableRawPointer? in
            // The cast makes this compile whether the context is optional (glibc) or not.
            Unmanaged<ThreadStart>.fromOpaque((context as UnsafeMutableRawPointer?)!).takeRetainedValue().body()
            return nil
        }, start)
        guard status == 0 else {
            Unmanaged<ThreadStart>.fromOpaque(start).release()
            throw PeerFailure("pthread_create: \(String(cString: strerror(status)))")
        }
        threads.append(thread)
    }
}

/// What a new thread runs, passed through pthread_create's context pointer.
private final class ThreadStart: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Errors from worker threads, collected for the thread that waits.
private final class FailureLog: Sendable {
    private let messages = Mutex<[String]>([])

    func add(_ message: String) { messages.withLock { $0.append(message) } }

    var first: String? { messages.withLock { $0.first } }
}
