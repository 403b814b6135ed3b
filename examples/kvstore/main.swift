// A crash-safe key-value store on a failure-atomic pool (see KVStore.swift).
//
//   pmem-kv POOL put KEY VALUE      set a key (one transaction: slot + header)
//   pmem-kv POOL get KEY            print a value (exit 1 if absent)
//   pmem-kv POOL list               print every entry
//   pmem-kv POOL check              exit 0 if the store's invariants hold, 1 if not
//   pmem-kv POOL churn MS           random puts, printing "ACK g" after each;
//                                   a second thread kills the process after MS ms,
//                                   wherever the puts are
//   pmem-kv POOL crash-demo [N]     N rounds (default 5) of: churn in a child that
//                                   kills itself, reopen, check, and compare with
//                                   the last acknowledged put
//
// POOL is created (1 MiB, 64 KiB chunks) if it does not exist.
import Foundation
import PMem
import SystemPackage

let arguments = CommandLine.arguments
func usage() -> Never {
    FileHandle.standardError.write(Data("usage: pmem-kv POOL put KEY VALUE | get KEY | list | check | churn MS | crash-demo [ROUNDS]\n".utf8))
    exit(2)
}
guard arguments.count >= 3 else { usage() }
let poolPath = FilePath(arguments[1])

func openStore() throws(PMemError) -> KVStore {
    let pool = FileManager.default.fileExists(atPath: poolPath.string)
        ? try Pool.open(at: poolPath)
        : try Pool.create(at: poolPath, capacity: 1 << 20, chunkSize: 64 << 10, spareCapacity: 256 << 10)
    return try KVStore(pool: pool)
}

/// One line with one write(2): an acknowledgement must not wait in a buffer.
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
}

/// Runs churn in a child, kills it after `ms`, and checks the reopened store.
func crashRound(_ round: Int, ms: Int) throws -> Bool {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
    child.arguments = [poolPath.string, "churn", String(ms)]
    let out = Pipe()
    child.standardOutput = out
    try child.run()
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    child.waitUntilExit()
    let acked = output.split(separator: "\n").compactMap { $0.hasPrefix("ACK ") ? UInt64($0.dropFirst(4)) : nil }
    let store = try openStore()
    let problems = try store.check()
    let generation = try store.header().generation
    let last = acked.last ?? 0
    // The put in flight when the kill came may or may not have happened; every acknowledged one has.
    let consistent = problems.isEmpty && (generation == last || generation == last + 1)
    let killed = child.terminationReason == .uncaughtSignal ? "killed by signal \(child.terminationStatus)" : "exit \(child.terminationStatus)"
    print("round \(round): child \(killed) after \(acked.count) acknowledged puts; reopened: "
          + "\(try store.header().count) keys, generation \(generation) (last acknowledged \(last)), "
          + (consistent ? "intact" : "DAMAGED: \(problems.joined(separator: "; "))"))
    return consistent
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
        guard let ms = Int(arguments[3]), ms > 0 else { usage() }
        let store = try openStore()
        Thread.detachNewThread {
            usleep(useconds_t(ms * 1000))
            kill(getpid(), SIGKILL)
        }
        var rng = SystemRandomNumberGenerator()
        while true {
            let key = Array("key-\(Int.random(in: 0..<300, using: &rng))".utf8)
            let value = [UInt8](repeating: UInt8.random(in: 0x61...0x7a, using: &rng), count: Int.random(in: 0...KVStore.maxValue, using: &rng))
            say("ACK \(try store.put(key, value))")
        }
    case ("crash-demo", 3), ("crash-demo", 4):
        let rounds = arguments.count == 4 ? Int(arguments[3]) ?? 0 : 5
        guard rounds > 0 else { usage() }
        var intact = 0
        for r in 1...rounds where try crashRound(r, ms: 20 + 37 * r % 200) { intact += 1 }
        print("\(intact) of \(rounds) rounds intact")
        exit(intact == rounds ? 0 : 1)
    default:
        usage()
    }
} catch {
    FileHandle.standardError.write(Data("pmem-kv: \(error)\n".utf8))
    exit(1)
}
