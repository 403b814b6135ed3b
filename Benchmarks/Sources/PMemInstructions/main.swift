// Instruction counts of Pool.write, for callgrind (repeatable, unlike
// timings). Each size is written `count` times through `measuredWrite`,
// which callgrind collects alone:
//
//   PMEM2_FORCE_GRANULARITY=CACHE_LINE SWIFT_PMEM_WORD_PERSISTENCE=flushed \
//   valgrind --tool=callgrind --collect-atstart=no \
//     --toggle-collect='*measuredWrite*' pmem-instructions SIZE COUNT
//
// then divide the total Ir by COUNT. scripts/instruction-counts runs it
// for 8 B, 64 B, 4 KiB and 1 MiB.
import PMem
import SystemPackage
import Glibc

@inline(never)
func measuredWrite(_ pool: Pool, _ buffer: UnsafeRawBufferPointer, at offset: Int) throws(PMemError) {
    try pool.write(buffer, at: offset)
}

/// Writes `size` bytes `count` times, spread over a 64 MiB pool whose
/// every slot was written once first (no page faults in the measured writes).
func run(directory: String, size: Int, count: Int) throws {
    let pool = try Pool.create(at: FilePath(directory + "/pool"), capacity: 64 << 20, lanes: 4)
    defer { pool.close() }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 0x5A)
    let bytes = UnsafeRawBufferPointer(buffer)
    let stride = max(4096, (size + 4095) & ~4095)
    let slots = (pool.capacity - size) / stride + 1
    for i in 0..<slots { try pool.write(bytes, at: i * stride) }
    for i in 0..<count { try measuredWrite(pool, bytes, at: (i % slots) * stride) }
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let size = Int(arguments[1]), let count = Int(arguments[2]), size > 0, count > 0 else {
    print("usage: pmem-instructions SIZE COUNT")
    exit(2)
}
let directory = "/dev/shm/pmem-instructions-\(getpid())"
mkdir(directory, 0o700)
do {
    try run(directory: directory, size: size, count: count)
} catch {
    print("pmem-instructions: \(error)")
}
unlink(directory + "/pool")
rmdir(directory)
