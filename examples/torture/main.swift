// The writer side of the kill -9 torture test (and an example of a program
// that relies on failure-atomic writes): opens a pool and performs an
// endless sequence of atomic writes, printing "ACK n" after write n has
// returned (and is therefore durable). Whoever kills it can check that every
// acknowledged write is in the pool and the one in flight is all or nothing.
//
//   pmem-torture POOL FIRST        # writes FIRST, FIRST+1, ... until killed
//
// POOL is created (1 MiB in 64 KiB chunks) if it does not exist.
// Write n is defined by TortureWrite(n): deterministic, so that the checker
// can recompute the expected contents.
import Glibc
import PMem
import SystemPackage

/// One line to stdout with one write(2), unbuffered: an acknowledgement
/// must not sit in a buffer when the process is killed.
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
}

guard CommandLine.arguments.count == 3, let first = Int(CommandLine.arguments[2]) else {
    say("usage: pmem-torture POOL FIRST")
    exit(2)
}
do {
    let path = FilePath(CommandLine.arguments[1])
    let pool = access(path.string, F_OK) == 0
        ? try Pool.open(at: path)
        : try Pool.create(at: path, capacity: 16 * 65536, chunkSize: 65536, spareCapacity: 4 * 65536)
    var n = first
    while true {
        let write = TortureWrite(n, capacity: pool.capacity)
        try pool.write(write.bytes, at: write.offset)
        say("ACK \(n)")
        n += 1
    }
} catch {
    say("pmem-torture: \(error)")
    exit(1)
}
