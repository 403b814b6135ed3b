// The writer side of the kill -9 and power-cut torture tests (and an example
// of a program that relies on failure-atomic writes): opens a pool and
// performs an endless sequence of atomic writes, printing "ACK n" after write
// n has returned (and is therefore durable). Whoever kills it can check that
// every acknowledged write is in the pool and the one in flight is all or
// nothing.
//
//   pmem-torture POOL FIRST [--ack-before-write]
//       writes FIRST, FIRST+1, ... until killed. --ack-before-write is a
//       deliberately broken writer, for showing that a checker catches it:
//       it acknowledges each write 1,000 writes before making it (more than
//       a serial line holds in flight), so that a kill or power cut at any
//       moment after its first acknowledgement loses acknowledged writes.
//   pmem-torture verify POOL FIRST LAST BASE SAVE
//       opens POOL (recovery included) and checks that it holds BASE (the
//       contents before write FIRST; zeros if BASE does not exist) with
//       writes FIRST...K applied, for some K >= LAST (the last acknowledged;
//       FIRST-1 when none was): a prefix of the sequence that includes every
//       acknowledged write, each write whole or absent. Saves the contents
//       to SAVE and prints "next K+1"; exit 1 and "VIOLATION" when no prefix
//       matches.
//
// POOL is created (1 MiB in 64 KiB chunks) if it does not exist.
// Write n is defined by TortureWrite(n): deterministic, so that the checker
// can recompute the expected contents.
import Glibc
import PMem

/// One line to stdout with one write(2), unbuffered: an acknowledgement
/// must not sit in a buffer when the process is killed.
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
}

let arguments = CommandLine.arguments
let capacity = 16 * 65536

func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes = [UInt8](repeating: 0, count: capacity)
    let n = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, capacity, f) }
    return n == capacity ? bytes : nil
}

func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    guard let f = fopen(path + ".tmp", "wb") else { return false }
    let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    guard n == bytes.count, fflush(f) == 0, fsync(fileno(f)) == 0, fclose(f) == 0 else { return false }
    return rename(path + ".tmp", path) == 0
}

/// The verify mode: see the comment at the top.
func verify(pool path: String, first: Int, last: Int, base basePath: String, save: String) throws -> Bool {
    guard access(path, F_OK) == 0 else {
        // Pool.create links the pool only when it is whole: absent is fine
        // when nothing was ever acknowledged.
        if first == 0 && last < 0 { say("torture: no pool yet, nothing acknowledged"); say("next 0"); return true }
        say("torture: VIOLATION: the pool is missing after write \(last) was acknowledged"); return false
    }
    let pool = try Pool.open(at: path)
    let contents = try pool.withUnsafeBytes { Array($0) }
    guard contents.count == capacity else { say("torture: VIOLATION: capacity \(contents.count)"); return false }
    var model = readFile(basePath) ?? [UInt8](repeating: 0, count: capacity)
    func apply(_ n: Int) -> Range<Int> {
        let w = TortureWrite(n, capacity: capacity)
        model.replaceSubrange(w.offset..<(w.offset + w.bytes.count), with: w.bytes)
        return w.offset..<(w.offset + w.bytes.count)
    }
    if last >= first { for n in first...last { _ = apply(n) } }
    // Which 4 KiB blocks differ; the pool matches when none does.
    let block = 4096
    var differs = [Bool](repeating: false, count: capacity / block)
    var count = 0
    func refresh(_ b: Int) {
        let d = contents.withUnsafeBytes { c in model.withUnsafeBytes { m in
            memcmp(c.baseAddress! + b * block, m.baseAddress! + b * block, block) != 0 } }
        if d != differs[b] { count += d ? 1 : -1; differs[b] = d }
    }
    for b in differs.indices { refresh(b) }
    var firstBad: Int? = nil
    if count > 0, let b = differs.firstIndex(of: true) {
        firstBad = (b * block..<(b + 1) * block).first { contents[$0] != model[$0] }
    }
    var k = last
    let limit = last + 20_000
    while count > 0 && k < limit {
        k += 1
        let r = apply(k)
        for b in (r.lowerBound / block)...((r.upperBound - 1) / block) { refresh(b) }
    }
    guard count == 0 else {
        let at = firstBad ?? -1
        let writer = last >= first ? (first...last).last { n in
            let w = TortureWrite(n, capacity: capacity); return (w.offset..<(w.offset + w.bytes.count)).contains(at) } : nil
        say("torture: VIOLATION: no prefix of writes \(first)... with every acknowledged one (through \(last)) matches; "
            + "against write \(last): byte \(at) is \(at >= 0 ? contents[at] : 0), expected \(at >= 0 ? model[at] : 0)"
            + (writer.map { " (acknowledged write \($0))" } ?? " (not an acknowledged write's byte)"))
        return false
    }
    guard writeFile(save, contents) else { say("torture: cannot save \(save)"); return false }
    say("torture: intact: writes \(first)...\(k) present (acknowledged through \(last), \(k - last) more found whole)")
    say("next \(k + 1)")
    return true
}

if arguments.count == 7 && arguments[1] == "verify" {
    guard let first = Int(arguments[3]), let last = Int(arguments[4]) else { say("usage: pmem-torture verify POOL FIRST LAST BASE SAVE"); exit(2) }
    do {
        exit(try verify(pool: arguments[2], first: first, last: last, base: arguments[5], save: arguments[6]) ? 0 : 1)
    } catch {
        say("torture: VIOLATION: the pool does not open: \(error)")
        exit(1)
    }
}
let early = arguments.count == 4 && arguments[3] == "--ack-before-write"
guard arguments.count == 3 || early, let first = Int(arguments[2]) else {
    say("usage: pmem-torture POOL FIRST [--ack-before-write] | verify POOL FIRST LAST BASE SAVE")
    exit(2)
}
do {
    let path = FilePath(arguments[1])
    let pool = access(path.string, F_OK) == 0
        ? try Pool.open(at: path)
        : try Pool.create(at: path, capacity: capacity, chunkSize: 65536, spareCapacity: 4 * 65536)
    var n = first
    let ahead = early ? 1000 : 0
    for k in first..<(first + ahead) { say("ACK \(k)") }
    while true {
        let write = TortureWrite(n, capacity: pool.capacity)
        if early { say("ACK \(n + ahead)") }
        try pool.write(write.bytes, at: write.offset)
        if !early { say("ACK \(n)") }
        n += 1
    }
} catch {
    say("pmem-torture: \(error)")
    exit(1)
}
