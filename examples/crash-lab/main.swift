// Crash lab: test a persistent data structure of your own under the simulated
// persistence domain of PMemCrashTesting, the way swift-pmem tests its pools.
//
//   pmem-crash-lab [DIR]
//
// The structure is an append-only log in a mapped file: a tail word at
// offset 0 (an 8-byte store, the hardware atomic unit) and records of 64
// bytes after it. Recovery trusts the tail: every record below it must be
// whole. Two ways to append are tried:
//
// - "one persist": write the record and the new tail, persist both at once.
//   The tail can reach the media before the record: the lab finds torn logs.
// - "record, then tail": persist the record, then store and persist the tail.
//
// At every fence the lab takes the crash images the simulator offers and runs
// recovery on each. It exits 0 when the lab finds the first way broken and
// the second intact, as it should.
import Glibc
import PMem
import PMemCrashTesting

let directory = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "/dev/shm"
let recordSize = 64, records = 40

/// Record `n`'s bytes: recognisable, so recovery can tell a whole record.
func record(_ n: Int) -> [UInt8] { (0..<recordSize).map { UInt8(truncatingIfNeeded: n &* 31 &+ $0 &+ 1) } }

/// Recovery: the tail, and whether every record below it is whole.
func recover(_ image: [UInt8]) -> (tail: Int, whole: Bool) {
    let tail = Int(image.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self) })
    guard tail <= records else { return (tail, false) }
    let whole = (0..<tail).allSatisfy { n in Array(image[64 + n * recordSize..<64 + (n + 1) * recordSize]) == record(n) }
    return (tail, whole)
}

enum Append: String, CaseIterable { case onePersist = "one persist", recordThenTail = "record, then tail" }

func append(_ n: Int, to map: borrowing Mapping, how: Append) throws(PMemError) {
    let offset = 64 + n * recordSize
    let bytes = record(n)
    switch how {
    case .onePersist:
        try map.copy(from: bytes.span.bytes, to: offset, flags: .noFlush)
        try map.store(UInt64(n + 1), at: 0)
        try map.persist(0..<offset + recordSize)
    case .recordThenTail:
        try map.copy(from: bytes.span.bytes, to: offset)   // copies and persists
        try map.store(UInt64(n + 1), at: 0)
        try map.persist(0..<8)
    }
}

var results: [Append: (images: Int, torn: Int)] = [:]
do {
    for how in Append.allCases {
        let path = FilePath(directory).appending("swift-pmem-crash-lab-\(getpid())")
        let fd = open(path.string, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0, ftruncate(fd, 4096) == 0 else { print("cannot create \(path)"); exit(1) }
        close(fd)
        defer { unlink(path.string) }

        let simulator = CrashSimulator()
        let map = try simulator.map(path: path)
        var images = 0, torn = 0
        simulator.onFence = { sim in
            for image in sim.crashImages(mixes: 32, seed: UInt64(sim.fences)) {
                images += 1
                if !recover(image).whole { torn += 1 }
            }
        }
        for n in 0..<records { try append(n, to: map, how: how) }
        let final = recover(simulator.durableBytes)
        guard final.tail == records, final.whole else { print("\(how.rawValue): the finished log is wrong"); exit(1) }
        results[how] = (images, torn)
        print("\(how.rawValue):".padding(19) + "\(records) appends, \(simulator.fences) fences, \(images) crash images, \(torn) torn logs")
    }
} catch {
    print("pmem-crash-lab: \(error)")
    exit(1)
}
let found = results[.onePersist]!.torn > 0, holds = results[.recordThenTail]!.torn == 0
print(found && holds ? "the lab caught the broken append and passed the ordered one"
      : "unexpected: broken append \(found ? "caught" : "NOT caught"), ordered append \(holds ? "held" : "TORN")")
exit(found && holds ? 0 : 1)

extension String {
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}
