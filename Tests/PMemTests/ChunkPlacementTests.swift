import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemPool
@testable import PMemCrashTesting
import PMem
import SystemPackage
import PMemTestSupport
import CMallocCounter
import Testing

/// docs/FORMAT.md, "Chunk placement": where remaps put chunks, the view's
/// claim on the process's mapping budget, and homing.
@Suite("Chunk placement: home or the spare region, a bounded view, homing")
struct ChunkPlacementTests {
    /// Logical chunks away from home in the pool's page table.
    static func awayChunks(_ pool: Pool) -> Int {
        (0..<pool.layout.logicalChunks).count(where: { pool.pageTable[$0] != $0 })
    }

    /// Whether every chunk is at home or in the spare region.
    static func homeOrSpareRegion(_ pool: Pool) -> Bool {
        (0..<pool.layout.logicalChunks).allSatisfy { pool.pageTable[$0] == $0 || pool.pageTable[$0] >= pool.layout.logicalChunks }
    }

    /// Logical chunks that sit in another chunk's home.
    static func inAnotherHome(_ pool: Pool) -> Int {
        (0..<pool.layout.logicalChunks).count(where: { pool.pageTable[$0] != $0 && pool.pageTable[$0] < pool.layout.logicalChunks })
    }

    @Test("while the claim has room, whole-chunk rewrites take other chunks' free homes and copy each byte once: no homing")
    func noHomingWhileTheClaimHasRoom() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096
        let pool = try Pool.create(at: scratch.path("pool"), capacity: 64 * chunk, chunkSize: chunk, spareCapacity: 4 * chunk)
        var model = [UInt8](repeating: 0, count: pool.capacity)
        var rng = SeededGenerator(state: 7)
        for i in 0..<600 {
            let first = Int.random(in: 0..<62, using: &rng), count = Int.random(in: 1...3, using: &rng)
            let bytes = [UInt8](repeating: UInt8(i % 251 + 1), count: count * chunk)
            try pool.write(bytes, at: first * chunk)
            model.replaceSubrange((first * chunk)..<((first + count) * chunk), with: bytes)
        }
        let stats = pool.statistics
        #expect(stats.homings == 0)
        #expect(stats.remapBytes == stats.bytesRequested, "each remapped byte copied once")
        #expect(Self.inAnotherHome(pool) > 0)
        #expect(firstMismatch(try pool.read(at: 0, count: pool.capacity), model) == nil)
        pool.close()
        let reopened = try Pool.open(at: scratch.path("pool"))
        #expect(firstMismatch(try reopened.read(at: 0, count: reopened.capacity), model) == nil)
    }

    @Test("an open with a small budget homes chunks that sit in each other's homes, through the spare region")
    func openBreaksCycles() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096
        var model = [UInt8](repeating: 0, count: 64 * chunk)
        var awayBefore = 0
        do {
            let pool = try Pool.create(at: scratch.path("pool"), capacity: 64 * chunk, chunkSize: chunk, spareCapacity: 4 * chunk)
            defer { awayBefore = Self.awayChunks(pool) }
            var rng = SeededGenerator(state: 17)
            for i in 0..<2000 {
                let first = Int.random(in: 0..<64, using: &rng)
                let bytes = [UInt8](repeating: UInt8(i % 251 + 1), count: chunk)
                try pool.write(bytes, at: first * chunk)
                model.replaceSubrange((first * chunk)..<((first + 1) * chunk), with: bytes)
            }
            #expect(Self.inAnotherHome(pool) > 8)
        }
        // 1 + 1 + 2 × away within 8: at most 3 chunks away.
        let budget = ViewMappingBudget(limit: 8)
        let pool = try Pool.$forcedMappingBudget.withValue(budget) { try Pool.open(at: scratch.path("pool")) }
        #expect(Self.awayChunks(pool) <= 3)
        // Homings that brought no chunk home: chunks moved out of another's
        // home into the spare region.
        #expect(pool.statistics.homings > awayBefore - Self.awayChunks(pool))
        #expect(pool.viewMappingCount < budget.limit)
        #expect(firstMismatch(try pool.read(at: 0, count: pool.capacity), model) == nil)
        pool.close()
        let reopened = try Pool.open(at: scratch.path("pool"))
        #expect(firstMismatch(try reopened.read(at: 0, count: reopened.capacity), model) == nil)
    }

    @Test("with homing from four chunks away, one writer's remaps put each chunk at home or in the spare region, and home chunks to make room there")
    func homeOrSpare() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096
        let pool = try Pool.$forcedHomingAway.withValue(4) {
            try Pool.create(at: scratch.path("pool"), capacity: 64 * chunk, chunkSize: chunk, spareCapacity: 4 * chunk)
        }
        var model = [UInt8](repeating: 0, count: pool.capacity)
        var rng = SeededGenerator(state: 7)
        for i in 0..<600 {
            // One to three whole chunks, so that every write is a remap.
            let first = Int.random(in: 0..<62, using: &rng), count = Int.random(in: 1...3, using: &rng)
            let bytes = [UInt8](repeating: UInt8(i % 251 + 1), count: count * chunk)
            try pool.write(bytes, at: first * chunk)
            model.replaceSubrange((first * chunk)..<((first + count) * chunk), with: bytes)
            #expect(Self.homeOrSpareRegion(pool), "after write \(i)")
            #expect(Self.awayChunks(pool) <= 4)
        }
        #expect(firstMismatch(try pool.read(at: 0, count: pool.capacity), model) == nil)
        let stats = pool.statistics
        #expect(stats.commits == 600, "homings are not the caller's commits")
        #expect(stats.homings > 0)
        #expect(stats.remaps >= 600 + stats.homings)
        pool.close()
        let reopened = try Pool.open(at: scratch.path("pool"))
        #expect(firstMismatch(try reopened.read(at: 0, count: reopened.capacity), model) == nil)
    }

    @Test("with a small mapping budget, random chunk-covering writes keep the view within it, and every byte is there after a reopen")
    func smallBudgetBoundsTheView() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096, chunks = 4096
        let budget = ViewMappingBudget(limit: 64)
        try Pool.$forcedMappingBudget.withValue(budget) {
            var model = [UInt8](repeating: 0, count: chunks * chunk)
            do {
            let pool = try Pool.create(at: scratch.path("pool"), capacity: chunks * chunk, chunkSize: chunk, spareCapacity: 1024 * chunk)
            var rng = SeededGenerator(state: 11)
            var most = 0
            for i in 0..<3000 {
                let first = Int.random(in: 0..<(chunks - 4), using: &rng), count = Int.random(in: 1...4, using: &rng)
                let bytes = [UInt8](repeating: UInt8(i % 251 + 1), count: count * chunk)
                try pool.write(bytes, at: first * chunk)
                model.replaceSubrange((first * chunk)..<((first + count) * chunk), with: bytes)
                if i % 100 == 99 { most = max(most, pool.viewMappingCount) }
            }
            // The claim includes the file mapping; the view has the rest.
            #expect(most >= 1 && most < budget.limit, "the view had \(most) mappings with a budget of \(budget.limit)")
            #expect(budget.inUse <= budget.limit)
            #expect(pool.statistics.homings > 0)
            #expect(firstMismatch(try pool.read(at: 0, count: pool.capacity), model) == nil)
            } // the pool goes, and its claim with it
            #expect(budget.inUse == 0)
            let reopened = try Pool.open(at: scratch.path("pool"))
            #expect(firstMismatch(try reopened.read(at: 0, count: reopened.capacity), model) == nil)
            #expect(reopened.viewMappingCount < budget.limit)
        }
    }

    @Test("two threads remapping disjoint halves, four spare chunks, a budget of 24: homing by trylock, waits and fallbacks keep every byte, within the budget")
    func concurrentRemaps() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096, chunks = 64, half = chunks / 2
        let budget = ViewMappingBudget(limit: 24)
        let pool = try Pool.$forcedMappingBudget.withValue(budget) {
            try Pool.create(at: scratch.path("pool"), capacity: chunks * chunk, chunkSize: chunk, spareCapacity: 4 * chunk)
        }
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var models: [[UInt8]] = [[], []]
            var errors: [String] = []
        }
        let results = Results()
        let group = DispatchGroup()
        for t in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                var g = SeededGenerator(state: UInt64(90 + t))
                var model = [UInt8](repeating: 0, count: half * chunk)
                do {
                    for i in 0..<400 {
                        let first = Int.random(in: 0..<(half - 1), using: &g), count = Int.random(in: 1...2, using: &g)
                        let bytes = [UInt8](repeating: UInt8((i + 100 * t) % 251 + 1), count: count * chunk)
                        try pool.write(bytes, at: (t * half + first) * chunk)
                        model.replaceSubrange((first * chunk)..<((first + count) * chunk), with: bytes)
                    }
                } catch {
                    results.lock.lock(); results.errors.append("thread \(t): \(error)"); results.lock.unlock()
                }
                results.lock.lock(); results.models[t] = model; results.lock.unlock()
            }.start()
        }
        group.wait()
        #expect(results.errors.isEmpty, "\(results.errors)")
        for t in 0..<2 {
            #expect(firstMismatch(try pool.read(at: t * half * chunk, count: half * chunk), results.models[t]) == nil, "half \(t)")
        }
        #expect(budget.inUse <= budget.limit)
        #expect(pool.viewMappingCount < budget.limit)
        #expect(pool.statistics.homings > 0)
    }

    @Test("an open whose page table needs more mappings than the budget has homes chunks through the file before it maps the view")
    func openHomesFirst() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096, chunks = 512
        var model = [UInt8](repeating: 0, count: chunks * chunk)
        do {
            let pool = try Pool.create(at: scratch.path("pool"), capacity: chunks * chunk, chunkSize: chunk, spareCapacity: 256 * chunk)
            // Every other chunk written whole: 200 chunks away, each its own run.
            for c in stride(from: 0, to: 400, by: 2) {
                let bytes = [UInt8](repeating: UInt8(c % 251 + 1), count: chunk)
                try pool.write(bytes, at: c * chunk)
                model.replaceSubrange((c * chunk)..<((c + 1) * chunk), with: bytes)
            }
            #expect(Self.awayChunks(pool) == 200)
            #expect(pool.viewMappingCount >= 400)
        }
        let budget = ViewMappingBudget(limit: 40)
        let pool = try Pool.$forcedMappingBudget.withValue(budget) { try Pool.open(at: scratch.path("pool")) }
        #expect(Self.awayChunks(pool) <= 19, "1 + 1 + 2 × away must fit 40")
        #expect(pool.statistics.homings >= 181)
        #expect(pool.viewMappingCount < budget.limit)
        #expect(firstMismatch(try pool.read(at: 0, count: pool.capacity), model) == nil)
    }

    @Test("a remap the budget cannot fit is refused with outOfMappings and nothing changed; it fits once another pool goes")
    func exhaustedBudgetRefusesCleanly() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096
        // Each pool claims 2 at open (its view and file mapping); a remap
        // away needs 2 more.
        let budget = ViewMappingBudget(limit: 5)
        try Pool.$forcedMappingBudget.withValue(budget) {
            var other: Pool? = try Pool.create(at: scratch.path("other"), capacity: 8 * chunk, chunkSize: chunk, spareCapacity: 2 * chunk)
            let pool = try Pool.create(at: scratch.path("pool"), capacity: 8 * chunk, chunkSize: chunk, spareCapacity: 2 * chunk)
            try pool.write([1, 2, 3], at: 10)  // logged: no remap, no claim
            let whole = [UInt8](repeating: 9, count: chunk)
            let error = #expect(throws: PMemError.self) { try pool.write(whole, at: 2 * chunk) }
            #expect(error?.code == .outOfMappings)
            #expect(error?.message.contains("vm.max_map_count") == true)
            #expect(try pool.read(at: 2 * chunk, count: chunk) == [UInt8](repeating: 0, count: chunk), "nothing changed")
            #expect(try pool.read(at: 10, count: 3) == [1, 2, 3])
            #expect(budget.inUse == 4)
            other = nil
            _ = other
            #expect(budget.inUse == 2)
            try pool.write(whole, at: 2 * chunk)
            #expect(try pool.read(at: 2 * chunk, count: chunk) == whole)
        }
    }

    @Test("524,288 chunks (a TiB pool's count at 2 MiB): random chunk-covering writes keep the view within the process's budget")
    func halfAMillionChunks() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096, chunks = 524_288
        let pool = try Pool.create(at: scratch.path("pool"), capacity: chunks * chunk, chunkSize: chunk)
        #expect(pool.spareCapacity == 8192 * chunk, "the default spare: at most 8,192 chunks")
        var rng = SeededGenerator(state: 3)
        var written: [Int: UInt8] = [:]
        for i in 0..<20_000 {
            let c = Int.random(in: 0..<chunks, using: &rng)
            let value = UInt8(i % 251 + 1)
            try pool.write([UInt8](repeating: value, count: chunk), at: c * chunk)
            written[c] = value
        }
        let mappings = pool.viewMappingCount
        #expect(mappings >= 1 && mappings < ViewMappingBudget.process.limit, "the view has \(mappings) mappings")
        #expect(mappings <= 1 + 2 * 8192)
        for (c, value) in written {
            #expect(try pool.read(at: c * chunk, count: chunk) == [UInt8](repeating: value, count: chunk), "chunk \(c)")
        }
    }

    @Test("with the process's mappings used up, a remap is refused with outOfMappings and nothing changed; with them back it goes through, and a reopen reads every write")
    func processOutOfMappings() async throws {
        guard malloc_counter_available() != 0 else {
            try Skip.test(.sanitizer, "a sanitizer's allocator maps memory of its own: a process with no mappings left cannot run it")
        }
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool").string
        do {
            let pool = try Pool.create(at: FilePath(path), capacity: 64 * 4096, chunkSize: 4096, spareCapacity: 8 * 4096)
            try pool.write([UInt8](repeating: 1, count: 4096), at: 0)
        }
        // In a child process: the filler would starve the tests running beside.
        await #expect(processExitsWith: .success) { [path = path as String] in
            exit(Self.exhaustAndRemap(path))
        }
        let reopened = try Pool.open(at: FilePath(path))
        #expect(try reopened.read(at: 0, count: 4096) == [UInt8](repeating: 1, count: 4096))
        #expect(try reopened.read(at: 3 * 4096 + 100, count: 1) == [7])
        #expect(try reopened.read(at: 2 * 4096, count: 4096) == [UInt8](repeating: 2, count: 4096))
    }

    /// Opens the pool, fills the process's mappings with single pages
    /// (alternately readable and not, so that none merge), tries a remap,
    /// releases the filler and remaps again. 0 when all went as specified.
    static func exhaustAndRemap(_ path: String) -> Int32 {
        do {
            let pool = try Pool.open(at: FilePath(path))
            let whole = [UInt8](repeating: 2, count: 4096), zeros = [UInt8](repeating: 0, count: 4096)
            var filler: [UnsafeMutableRawPointer] = []
            filler.reserveCapacity(1 << 17)
            while let p = mmap(nil, 4096, filler.count % 2 == 0 ? PROT_READ : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED {
                filler.append(p)
            }
            do {
                try pool.write(whole, at: 2 * 4096)
                return 10
            } catch {
                guard error.code == .outOfMappings, error.message.contains("vm.max_map_count") else { return 11 }
            }
            guard try pool.read(at: 2 * 4096, count: 4096) == zeros else { return 12 }
            // A logged write needs no mapping.
            try pool.write([7], at: 3 * 4096 + 100)
            for p in filler { munmap(p, 4096) }
            try pool.write(whole, at: 2 * 4096)
            guard try pool.read(at: 2 * 4096, count: 4096) == whole else { return 13 }
            return 0
        } catch {
            return 20
        }
    }

    /// Chunks of the device-scale test: 65,536 by default (256 MiB), CI's
    /// device-scale stage sets 4,194,304 (a 16 GiB file, an 8 TiB pool's
    /// count at 2 MiB chunks).
    static var scaleChunks: Int { Int(ProcessInfo.processInfo.environment["SWIFT_PMEM_SCALE_CHUNKS"] ?? "") ?? 65_536 }

    @Test("a pool of SWIFT_PMEM_SCALE_CHUNKS 4 KiB chunks on disk with a 64 MiB spare (the msync path): random chunk writes keep the view within the budget, and a reopen reads every write")
    func deviceScale() throws {
        let chunks = Self.scaleChunks, chunk = 4096, spare = 64 << 20
        let scratch = Scratch(on: "/var/tmp")
        var fs = statvfs()
        try #require(statvfs(scratch.path("").string, &fs) == 0)
        let needed = chunks * chunk + spare + (256 << 20)
        try #require(Int(fs.f_bavail) * Int(fs.f_frsize) >= needed, "the disk has too little room for \(needed) bytes")
        let clock = ContinuousClock()
        var pool: Pool? = nil
        let created = try clock.measure {
            pool = try Pool.create(at: scratch.path("pool"), capacity: chunks * chunk, chunkSize: chunk, spareCapacity: spare)
        }
        var rng = SeededGenerator(state: 5)
        var written: [Int: UInt8] = [:]
        for i in 0..<2000 {
            let c = Int.random(in: 0..<chunks, using: &rng), value = UInt8(i % 251 + 1)
            try pool!.write([UInt8](repeating: value, count: chunk), at: c * chunk)
            written[c] = value
        }
        let mappings = pool!.viewMappingCount
        #expect(mappings >= 1 && mappings < ViewMappingBudget.process.limit, "the view has \(mappings) mappings")
        pool = nil
        let opened = try clock.measure { pool = try Pool.open(at: scratch.path("pool")) }
        for (c, value) in written {
            #expect(try pool!.read(at: c * chunk, count: chunk) == [UInt8](repeating: value, count: chunk), "chunk \(c)")
        }
        let openNanoseconds = Double(opened.components.seconds) * 1e9 + Double(opened.components.attoseconds) / 1e9
        // CI's device-scale stage requires this line.
        print("device scale: chunks \(chunks), created in \(created), opened in \(opened) (\(Int(openNanoseconds / Double(chunks))) ns per chunk), view mappings \(mappings) of a budget of \(ViewMappingBudget.process.limit), writes \(written.count) chunks")
    }
}
