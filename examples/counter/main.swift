// A persistent counter: each run adds one to a 64-bit counter kept in a
// file and makes the new value durable before printing it.
//
//   swift run pmem-counter [FILE]
//
// FILE defaults to $PMEM_DIR/swift-pmem-counter, or /dev/shm/swift-pmem-counter
// when PMEM_DIR is not set.
import Glibc
import PMem
import SystemPackage

let environment = ProcessInfoLite()
let path: FilePath = CommandLine.arguments.count > 1
    ? FilePath(CommandLine.arguments[1])
    : FilePath(environment.pmemDirectory).appending("swift-pmem-counter")

do {
    // A new file gets one page of zeros; an existing one is reused.
    let fd = try FileDescriptor.open(path, .readWrite, options: [.create], permissions: [.ownerReadWrite])
    if try fd.seek(offset: 0, from: .end) == 0 {
        try fd.writeAll(toAbsoluteOffset: 0, [UInt8](repeating: 0, count: 4096))
    }
    let map = try Mapping(fileDescriptor: fd)
    try fd.close()

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

/// Where the demo keeps its file.
struct ProcessInfoLite {
    var pmemDirectory: String {
        if let dir = getenv("PMEM_DIR"), dir.pointee != 0 { return String(cString: dir) }
        return "/dev/shm"
    }
}
