import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemPool
@testable import PMemCrashTesting
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// ChunkLocks.swift: chunks share lock stripes beyond 4,096, so that the lock
/// table, and the open, close and statistics that walk it, stay the same
/// size however many chunks a pool has. The crash model's shared-stripes
/// workload checks the commit protocol over shared stripes.
@Suite("Lock stripes: a fixed lock table that chunks share")
struct LockStripeTests {
    @Test("a stripe per chunk up to 4,096 chunks, 4,096 beyond")
    func stripeCounts() throws {
        let scratch = Scratch(on: "/dev/shm")
        for (chunks, stripes) in [(3, 4), (16, 16), (4096, 4096), (4097, 4096), (20_000, 4096)] {
            let path = scratch.path("pool-\(chunks)")
            let pool = try Pool.create(at: path, capacity: chunks * 4096, chunkSize: 4096, spareCapacity: 2 * 4096)
            #expect(pool.locks.stripeCount == stripes, "\(chunks) chunks")
            pool.close()
        }
    }

    /// Two threads, each on its own chunks, every chunk of one sharing a
    /// stripe with one of the other's: in-place, logged and remapped
    /// writes. Both threads' writes land, the statistics count each once,
    /// and a reopen reads them back.
    @Test("two threads writing chunks that share stripes both land, counted once each; close waits for both")
    func sharedStripesUnderTwoThreads() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096, chunks = 2 * ChunkLocks.maximumStripes
        let path = scratch.path("pool")
        let pool = try Pool.create(at: path, capacity: chunks * chunk, chunkSize: chunk, spareCapacity: 16 * chunk)
        #expect(pool.locks.stripeCount == ChunkLocks.maximumStripes)
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var written: [Int: [UInt8]] = [:]
            var errors: [String] = []
            var inPlace = 0
        }
        let results = Results()
        let group = DispatchGroup()
        let rounds = 300
        for t in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                var g = SeededGenerator(state: UInt64(7 + t))
                var written: [Int: [UInt8]] = [:]
                var inPlace = 0
                do {
                    for i in 0..<rounds {
                        // Thread 1's chunk shares thread 0's stripe.
                        let c = Int.random(in: 0..<8, using: &g) + t * ChunkLocks.maximumStripes
                        var bytes = written[c] ?? [UInt8](repeating: 0, count: chunk)
                        let fill = UInt8((i + 50 * t) % 251 + 1)
                        switch i % 3 {
                        case 0:
                            let at = Int.random(in: 0..<(chunk / 8), using: &g) * 8
                            for k in 0..<8 { bytes[at + k] = fill }
                            try pool.write([UInt8](repeating: fill, count: 8), at: c * chunk + at)
                            inPlace += 1
                        case 1:
                            let at = Int.random(in: 0..<(chunk - 300), using: &g)
                            for k in 0..<300 { bytes[at + k] = fill }
                            try pool.write([UInt8](repeating: fill, count: 300), at: c * chunk + at)
                        default:
                            bytes = [UInt8](repeating: fill, count: chunk)
                            try pool.write(bytes, at: c * chunk)
                        }
                        written[c] = bytes
                    }
                } catch {
                    results.lock.lock(); results.errors.append("thread \(t): \(error)"); results.lock.unlock()
                }
                results.lock.lock()
                results.written.merge(written) { $1 }
                results.inPlace += inPlace
                results.lock.unlock()
            }.start()
        }
        group.wait()
        #expect(results.errors.isEmpty, "\(results.errors)")
        let statistics = pool.statistics
        #expect(statistics.commits == 2 * rounds)
        #expect(statistics.inPlaceBytes == 8 * results.inPlace)
        pool.close()
        let reopened = try Pool.open(at: path)
        for (c, bytes) in results.written {
            #expect(firstMismatch(try reopened.read(at: c * chunk, count: chunk), bytes) == nil, "chunk \(c)")
        }
    }

    /// One stripe for all chunks: every commit holds the lock of every
    /// chunk, so homing by trylock could never take one. A commit homes the
    /// chunks of its own stripes that are not its own instead, and the
    /// small budget holds without a refusal.
    @Test("with every chunk in one stripe, a remap homes the other chunks of its stripe to fit a small mapping budget")
    func homingWithinTheCommitsStripes() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096, chunks = 64
        let budget = ViewMappingBudget(limit: 12)
        try Pool.$forcedLockStripes.withValue(1) {
            try Pool.$forcedMappingBudget.withValue(budget) {
                let pool = try Pool.create(at: scratch.path("pool"), capacity: chunks * chunk, chunkSize: chunk, spareCapacity: 16 * chunk)
                #expect(pool.locks.stripeCount == 1)
                var model = [UInt8](repeating: 0, count: chunks * chunk)
                var rng = SeededGenerator(state: 21)
                for i in 0..<300 {
                    let first = Int.random(in: 0..<(chunks - 2), using: &rng), count = Int.random(in: 1...2, using: &rng)
                    let bytes = [UInt8](repeating: UInt8(i % 251 + 1), count: count * chunk)
                    try pool.write(bytes, at: first * chunk)
                    model.replaceSubrange((first * chunk)..<((first + count) * chunk), with: bytes)
                }
                #expect(pool.statistics.homings > 0)
                #expect(budget.inUse <= budget.limit && pool.viewMappingCount < budget.limit)
                #expect(firstMismatch(try pool.read(at: 0, count: pool.capacity), model) == nil)
            }
        }
    }

    @Test("a write spanning more chunks than there are stripes locks each stripe once (no self-deadlock)")
    func writeWiderThanTheStripes() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096, path = scratch.path("pool")
        try Pool.$forcedLockStripes.withValue(2) {
            let pool = try Pool.create(at: path, capacity: 16 * chunk, chunkSize: chunk, spareCapacity: 8 * chunk)
            #expect(pool.locks.stripeCount == 2)
            // Five chunks over two stripes, logged edges and remapped middles.
            let bytes = (0..<(5 * chunk - 200)).map { UInt8(truncatingIfNeeded: $0 % 253 + 1) }
            try pool.write(bytes, at: chunk + 100)
            try pool.storeUncommitted(UInt64(0x0102_0304_0506_0708), at: 3 * chunk)
            try pool.persist((chunk)..<(7 * chunk))
            var expected = bytes
            withUnsafeBytes(of: UInt64(0x0102_0304_0506_0708).littleEndian) { word in
                for k in 0..<8 { expected[2 * chunk - 100 + k] = word[k] }
            }
            #expect(firstMismatch(try pool.read(at: chunk + 100, count: bytes.count), expected) == nil)
            pool.close()
            #expect(firstMismatch(try Pool.open(at: path).read(at: chunk + 100, count: bytes.count), expected) == nil)
        }
    }
}
