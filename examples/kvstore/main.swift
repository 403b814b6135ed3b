// A crash-safe key-value store on a failure-atomic pool (see KVStore.swift).
//
//   pmem-kv POOL put KEY VALUE      set a key (one transaction: slot + header)
//   pmem-kv POOL get KEY            print a value (exit 1 if absent)
//   pmem-kv POOL list               print every entry
//   pmem-kv POOL check              exit 0 if the store's invariants hold, 1 if not
//   pmem-kv POOL churn MS           random puts, printing "ACK g" after each;
//                                   a second thread kills the process after MS ms,
//                                   wherever the puts are (0: before it opens
//                                   the store, so with no put)
//   pmem-kv POOL crash-demo [N [MS]] N rounds (default 5) of: churn in a child
//                                   that kills itself (after MS ms, or a time
//                                   that varies by round; 0: before any put),
//                                   reopen, check, and
//                                   compare with the last acknowledged put, or
//                                   with the store before the round if none was
//
// POOL is created (1 MiB, 64 KiB chunks) if it does not exist.
import Glibc
import PMem

let arguments = CommandLine.arguments
func usage() -> Never {
    printError("usage: pmem-kv POOL put KEY VALUE | get KEY | list | check | churn MS | crash-demo [ROUNDS [MS]]")
    exit(2)
}

func printError(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
guard arguments.count >= 3 else { usage() }
let poolPath = FilePath(arguments[1])

func openStore() throws(PMemError) -> KVStore {
    let pool = access(poolPath.string, F_OK) == 0
        ? try Pool.open(at: poolPath)
        : try Pool.create(at: poolPath, capacity: 1 << 20, chunkSize: 64 << 10, spareCapacity: 256 << 10)
    return try KVStore(pool: pool)
}

/// One line with one write(2): an acknowledgement must not wait in a buffer.
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
}

/// Runs churn in a child, which kills itself after `ms`, and checks the
/// reopened store against the child's acknowledgements. (Plain posix_spawn
/// and a pipe: this runs in minimal VMs too.)
func crashRound(_ round: Int, ms: Int) throws(PMemError) -> Bool {
    // The store before the round: what a round that acknowledges nothing
    // must leave (or one put more, the one in flight).
    let before: UInt64
    do {
        let store = try openStore()
        before = try store.header().generation
        store.pool.close() // the child opens it next
    }
    var pipeFDs: [CInt] = [0, 0]
    guard pipe(&pipeFDs) == 0 else { throw PMemError.system(Errno(rawValue: errno), "pipe") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], STDOUT_FILENO)
    posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
    let args = ["/proc/self/exe", poolPath.string, "churn", String(ms)]
    var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    var pid = pid_t()
    let spawned = posix_spawn(&pid, args[0], &actions, nil, &cArgs, environ)
    cArgs.forEach { free($0) }
    posix_spawn_file_actions_destroy(&actions)
    close(pipeFDs[1])
    defer { close(pipeFDs[0]) }
    guard spawned == 0 else { throw PMemError.system(Errno(rawValue: spawned), "posix_spawn") }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    var status: CInt = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let acked = String(decoding: output, as: UTF8.self).split(separator: "\n")
        .compactMap { $0.hasPrefix("ACK ") ? UInt64($0.dropFirst(4)) : nil }
    let store = try openStore()
    let problems = try store.check()
    let header = try store.header()
    let last = acked.last ?? before
    // The put in flight when the kill came may or may not have happened; every acknowledged one has.
    let consistent = problems.isEmpty && (header.generation == last || header.generation == last + 1)
    let signal = status & 0x7f
    let how = signal != 0 ? "killed by signal \(signal)" : "exit \((status >> 8) & 0xff)"
    print("round \(round): child \(how) after \(acked.count) acknowledged puts; reopened: "
          + "\(header.count) keys, generation \(header.generation) (last acknowledged \(last)), "
          + (consistent ? "intact" : "DAMAGED: \(problems.joined(separator: "; "))"))
    return consistent
}

/// How long the churning child lives (set before its killer thread starts).
nonisolated(unsafe) var churnMilliseconds: CInt = 0

/// Kills this process after `churnMilliseconds`, wherever the main thread is.
func startKiller(after ms: Int) {
    churnMilliseconds = CInt(ms)
    var thread = pthread_t()
    pthread_create(&thread, nil, { _ in
        usleep(useconds_t(churnMilliseconds) * 1000)
        kill(getpid(), SIGKILL)
        return nil
    }, nil)
}

do {
    switch (arguments[2], arguments.count) {
    case ("put", 5):
        let g = try openStore().put(Array(arguments[3].utf8), Array(arguments[4].utf8))
        print("ok (generation \(g))")
    case ("get", 4):
        guard let value = try openStore().get(Array(arguments[3].utf8)) else { print("not found"); exit(1) }
        print(String(decoding: value, as: UTF8.self))
    case ("list", 3):
        for s in try openStore().entries() {
            print("\(String(decoding: s.key, as: UTF8.self)) = \(String(decoding: s.value, as: UTF8.self))")
        }
    case ("check", 3):
        let store = try openStore()
        let problems = try store.check()
        guard problems.isEmpty else { problems.forEach { print("damaged: \($0)") }; exit(1) }
        let h = try store.header()
        print("intact: \(h.count) keys, generation \(h.generation)")
    case ("churn", 4):
        guard let ms = Int(arguments[3]), ms >= 0 else { usage() }
        // 0: killed before it opens the store: a round with no put.
        if ms == 0 { kill(getpid(), SIGKILL) }
        let store = try openStore()
        startKiller(after: ms)
        var rng = SystemRandomNumberGenerator()
        while true {
            let key = Array("key-\(Int.random(in: 0..<300, using: &rng))".utf8)
            let value = [UInt8](repeating: UInt8.random(in: 0x61...0x7a, using: &rng), count: Int.random(in: 0...KVStore.maxValue, using: &rng))
            say("ACK \(try store.put(key, value))")
        }
    case ("crash-demo", 3), ("crash-demo", 4), ("crash-demo", 5):
        let rounds = arguments.count >= 4 ? Int(arguments[3]) ?? 0 : 5
        let fixed = arguments.count == 5 ? Int(arguments[4]) : nil
        guard rounds > 0, arguments.count < 5 || (fixed ?? -1) >= 0 else { usage() }
        var intact = 0
        for r in 1...rounds where try crashRound(r, ms: fixed ?? 20 + 37 * r % 200) { intact += 1 }
        print("\(intact) of \(rounds) rounds intact")
        exit(intact == rounds ? 0 : 1)
    default:
        usage()
    }
} catch {
    printError("pmem-kv: \(error)")
    exit(1)
}
