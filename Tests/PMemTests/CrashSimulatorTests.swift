import Foundation
import PMem
import PMemCrashTesting
import SystemPackage
import PMemTestSupport
import Testing

/// The public crash-testing product, used the way an application would use it
/// on its own persistent code.
@Suite("PMemCrashTesting: crash-testing users' own code")
struct CrashSimulatorTests {
    /// A 16-byte record at offset 64: two 8-byte words.
    static func record(_ bytes: [UInt8]) -> (UInt64, UInt64) {
        bytes.withUnsafeBytes { ($0.loadUnaligned(fromByteOffset: 64, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 72, as: UInt64.self)) }
    }

    @Test("a 16-byte update with one persist can tear, and the simulator shows it")
    func tornUpdateIsFound() throws {
        let scratch = Scratch(on: "/dev/shm")
        let simulator = CrashSimulator()
        let map = try simulator.map(path: scratch.file("naive", count: 4096))
        var torn = 0, images = 0
        simulator.onFence = { sim in
            for image in sim.crashImages(seed: 1) {
                images += 1
                let (a, b) = Self.record(image)
                if !((a == 0 && b == 0) || (a == 1 && b == 2)) { torn += 1 }
            }
        }
        try map.store(UInt64(1), at: 64)
        try map.store(UInt64(2), at: 72)
        try map.persist(64..<80)
        #expect(images > 0)
        #expect(torn > 0, "the simulator never showed the torn record")
        #expect(Self.record(simulator.durableBytes) == (1, 2))
    }

    @Test("the same update behind an 8-byte valid flag, persisted after it, never shows a torn record")
    func flaggedUpdateHolds() throws {
        let scratch = Scratch(on: "/dev/shm")
        let simulator = CrashSimulator()
        let map = try simulator.map(path: scratch.file("flagged", count: 4096))
        var violations = 0, images = 0
        simulator.onFence = { sim in
            for image in sim.crashImages(seed: 2) {
                images += 1
                let valid = image.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self) }
                if valid == 1 && Self.record(image) != (1, 2) { violations += 1 }
            }
        }
        try map.store(UInt64(1), at: 64)
        try map.store(UInt64(2), at: 72)
        try map.persist(64..<80)
        try map.store(UInt64(1), at: 0)   // the valid flag: one 8-byte store
        try map.persist(0..<8)
        #expect(images > 0)
        #expect(violations == 0)
        #expect(simulator.fences == 2)
    }

    @Test("crash images include each flushed line alone, all but one, and a large non-temporal copy one word short; without them, none")
    func structuredImages() throws {
        let scratch = Scratch(on: "/dev/shm")
        let simulator = CrashSimulator()
        let map = try simulator.map(path: scratch.file("structured", count: 8192))
        // Three lines flushed one by one, not yet fenced.
        for line in 0..<3 { try map.store(UInt64(line + 1), at: 64 * line) }
        for line in 0..<3 { try map.flush((64 * line)..<(64 * line + 8)) }
        func lines(_ image: [UInt8]) -> [UInt64] {
            image.withUnsafeBytes { b in (0..<3).map { b.loadUnaligned(fromByteOffset: 64 * $0, as: UInt64.self) } }
        }
        func copiedWords(_ image: [UInt8]) -> Int {
            image.withUnsafeBytes { b in (0..<128).filter { b.loadUnaligned(fromByteOffset: 4096 + 8 * $0, as: UInt64.self) != 0 }.count }
        }
        let states = Set(simulator.crashImages(mixes: 0, seed: 3).map(lines))
        for alone in [[1, 0, 0], [0, 2, 0], [0, 0, 3]] as [[UInt64]] { #expect(states.contains(alone), "line alone: \(alone)") }
        for allButOne in [[0, 2, 3], [1, 0, 3], [1, 2, 0]] as [[UInt64]] { #expect(states.contains(allButOne), "all but one: \(allButOne)") }
        // A 1 KiB non-temporal copy, not yet fenced: 128 words.
        let payload = [UInt8](repeating: 0xAB, count: 1024)
        try payload.withUnsafeBytes { try map.copy(from: $0, to: 4096, flags: [.nonTemporal, .noDrain]) }
        let images = simulator.crashImages(mixes: 0, seed: 3)
        #expect(images.contains { copiedWords($0) == 127 }, "no image of the copy one word short")
        let plain = simulator.crashImages(mixes: 0, structured: 0, seed: 3)
        #expect(plain.count == 2, "with no mixes and no structured images: the media and everything stored")
    }
}
