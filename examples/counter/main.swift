// A persistent counter: each run adds one to a 64-bit counter kept in a
// sealed file and makes the new value durable before printing it.
//
//   swift run pmem-counter [FILE]
//
// FILE defaults to $PMEM_DIR/swift-pmem-counter, or /dev/shm/swift-pmem-counter
// when PMEM_DIR is not set.
import Glibc
import PMem

let path: FilePath = CommandLine.arguments.count > 1
    ? FilePath(CommandLine.arguments[1])
    : FilePath(pmemDirectory()).appending("swift-pmem-counter")

do {
    let map = try openCounter(path)

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

/// Maps the counter's file, creating it on the first run: one page, fully
/// allocated, written and sealed, so that a store through the mapping never
/// has to change the file's block map. Where seals cannot be recorded (tmpfs
/// before Linux 6.6 has no user extended attributes) it says so and uses a
/// plain file.
func openCounter(_ path: FilePath) throws(PMemError) -> Mapping {
    if access(path.string, F_OK) != 0 {
        do {
            let report = try SealedFile.create(at: path, size: 4096)
            print("created \(path)\n\(report)")
        } catch where error.code == .notSupported {
            print("note: \(error.message); using an unsealed file")
            try createPlainFile(path)
        }
    }
    do {
        return try SealedFile.open(path).map()
    } catch where error.code == .notSealed {
        print("note: \(path) is not sealed; mapping it as it is")
        return try Mapping(path: path)
    }
}

func createPlainFile(_ path: FilePath) throws(PMemError) {
    do {
        let fd = try FileDescriptor.open(path, .readWrite, options: [.create, .exclusiveCreate], permissions: .ownerReadWrite)
        defer { try? fd.close() }
        _ = try fd.writeAll(toAbsoluteOffset: 0, [UInt8](repeating: 0, count: 4096))
    } catch {
        throw PMemError(.systemCallFailed, "creating \(path): \(error)", path: path)
    }
}

/// Where the demo keeps its file: $PMEM_DIR, else /dev/shm.
func pmemDirectory() -> String {
    if let dir = getenv("PMEM_DIR"), dir.pointee != 0 { return String(cString: dir) }
    return "/dev/shm"
}
