import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
@testable import PMemCrashTesting
import SystemPackage
import PMemTestSupport
import Testing

/// kill -9 torture: a child performs atomic writes and acknowledges each; the
/// parent kills it at a random moment, reopens the pool, and checks that every
/// acknowledged write is there and the one in flight is all or nothing.
@Suite("kill -9 torture", .serialized)
struct KillTortureTests {
    /// Cycles; CI sets SWIFT_PMEM_KILL_CYCLES=1000.
    static var cycles: Int { Int(ProcessInfo.processInfo.environment["SWIFT_PMEM_KILL_CYCLES"] ?? "") ?? 30 }

    static var writer: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("pmem-torture")
    }

    @Test("every acknowledged write survives kill -9 and the write in flight is all or nothing")
    func torture() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.writer.path), "build pmem-torture first (swift build)")
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        let capacity = 16 * 65536
        do { _ = try Pool.create(at: path, capacity: capacity, chunkSize: 65536, spareCapacity: 4 * 65536) }
        var model = [UInt8](repeating: 0, count: capacity)
        var next = 0
        var g = SeededGenerator(state: 99)
        var killedInFlight = 0
        for cycle in 0..<Self.cycles {
            let process = Process()
            process.executableURL = Self.writer
            process.arguments = [path.string, String(next)]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            usleep(UInt32.random(in: 2_000...40_000, using: &g))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let acked = output.split(separator: "\n").compactMap { $0.hasPrefix("ACK ") ? Int($0.dropFirst(4)) : nil }
            #expect(!output.contains("pmem-torture:"), "cycle \(cycle): the writer failed: \(output)")
            for n in acked {
                let w = TortureWrite(n, capacity: capacity)
                model.replaceSubrange(w.offset..<(w.offset + w.bytes.count), with: w.bytes)
            }
            next = (acked.last ?? next - 1) + 1
            // The write in flight: either all of it is there, or none.
            var withInFlight = model
            let w = TortureWrite(next, capacity: capacity)
            withInFlight.replaceSubrange(w.offset..<(w.offset + w.bytes.count), with: w.bytes)
            let pool = try Pool.open(at: path)
            let contents = try pool.withUnsafeBytes { Array($0) }
            if firstMismatch(contents, withInFlight) == nil && firstMismatch(contents, model) != nil {
                model = withInFlight
                next += 1
                killedInFlight += 1
            } else {
                #expect(firstMismatch(contents, model) == nil, "cycle \(cycle): after write \(next - 1) the pool differs at byte \(firstMismatch(contents, model) ?? -1)")
            }
        }
        print("kill -9 cycles: \(Self.cycles), writes acknowledged: \(next), in-flight writes found complete: \(killedInFlight)")
        #expect(next > Self.cycles)
    }
}
