// A persistent counter: each run adds one to a 64-bit counter kept in a
// sealed file and makes the new value durable before printing it.
//
//   swift run pmem-counter [FILE]
//
// FILE defaults to $PMEM_DIR/swift-pmem-counter, or /dev/shm/swift-pmem-counter
// when PMEM_DIR is not set.
import Glibc
import PMem
import SystemPackage

let path: FilePath = CommandLine.arguments.count > 1
    ? FilePath(CommandLine.arguments[1])
    : FilePath(pmemDirectory()).appending("swift-pmem-counter")

do {
    // First run: a one-page file, fully allocated, written and sealed, so
    // that a store through the mapping never has to change its block map.
    if access(path.string, F_OK) != 0 {
        let report = try SealedFile.create(at: path, size: 4096)
        print("created \(path)\n\(report)")
    }
    // Every run: check the seal, then map.
    let file = try SealedFile.open(path)
    let map = try file.map()

    // The counter is 8 bytes at offset 0: an aligned 8-byte store is
    // failure-atomic on x86, so after a crash it is the old or the new value.
    let value = try map.load(UInt64.self, at: 0) + 1
    try map.store(value, at: 0)
    try map.persist(0..<8)

    print("counter = \(value)  (\(path))")
    print(map.ioInfo)
} catch {
    print("pmem-counter: \(error)")
    exit(1)
}

/// Where the demo keeps its file: $PMEM_DIR, else /dev/shm.
func pmemDirectory() -> String {
    if let dir = getenv("PMEM_DIR"), dir.pointee != 0 { return String(cString: dir) }
    return "/dev/shm"
}
