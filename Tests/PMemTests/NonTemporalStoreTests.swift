import Foundation
import Glibc
@testable import PMemPool
import PMem
import PMemTestSupport
import Testing

/// On libpmem2's cache flushes (a child process with PMEM2_FORCE_GRANULARITY,
/// read at each map) an in-place write is one non-temporal 8-byte store or a
/// store and a flush, as the open measured (WordPersistence.swift), and a
/// whole word is stored without reading it first; small applies are
/// non-temporal copies too (Pool+PersistenceSteps.swift, PersistenceCalls.copyAndFlush).
/// These say what must stay true of the bytes: written exactly, neighbours
/// kept, the same after a reopen.
@Suite("Non-temporal stores on libpmem2's cache flushes")
struct NonTemporalStoreTests {
    /// In the child: a new pool on /dev/shm that calls libpmem2's cache-line
    /// flushes directly (exit 2 where it does not); the scratch keeps it.
    static func cacheLinePool() throws -> (Scratch, Pool) {
        setenv("PMEM2_FORCE_GRANULARITY", "cache_line", 1)
        let scratch = Scratch(on: "/dev/shm")
        let pool = try Pool.create(at: scratch.path("pool"), capacity: 4 << 20, chunkSize: 2 << 20, spareCapacity: 2 << 20, lanes: 2)
        guard pool.persistence.flushesLines else { exit(2) }
        return (scratch, pool)
    }

    /// In the child: in-place writes of 1 to 8 bytes with the word method
    /// fixed by the environment; exits non-zero where something is wrong.
    static func checkInPlaceWrites(_ method: WordPersistence) throws {
        setenv(WordPersistence.environmentVariable, method.rawValue, 1)
        let (scratch, pool) = try Self.cacheLinePool()
        guard pool.wordPersistence == method else { exit(6) } // the method asked for is the one used
        let path = scratch.path("pool")
        let background = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        try pool.write(background, at: 4096) // logged: the bytes around every in-place write
        var expected = background
        var inPlace = pool.statistics.inPlaceBytes
        // (offset inside the 4 KiB, count): whole words, and parts of words
        // at every position, so a merge that drops or shifts bytes shows.
        let writes = [(0, 8), (64, 8), (4088, 8), (9, 1), (17, 2), (26, 3), (35, 4), (43, 5), (50, 6), (57, 7), (72, 1), (79, 1)]
        for (i, (at, count)) in writes.enumerated() {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: 0xA0 &+ i &* 8 &+ $0) }
            try pool.write(bytes, at: 4096 + at)
            expected.replaceSubrange(at..<(at + count), with: bytes)
            inPlace += 8 // the word it stores
            guard pool.statistics.inPlaceBytes == inPlace else { exit(3) } // took the in-place path
            guard try pool.read(at: 4096, count: 4096) == expected else { exit(4) }
        }
        pool.close()
        let reopened = try Pool.open(at: path)
        guard try reopened.read(at: 4096, count: 4096) == expected else { exit(5) }
    }

    @Test("in-place writes of 1 to 8 bytes by non-temporal stores keep their neighbours and survive a reopen")
    func inPlaceWritesStreamed() async {
        await #expect(processExitsWith: .success) { try Self.checkInPlaceWrites(.streamed) }
    }

    @Test("in-place writes of 1 to 8 bytes by a store and a flush keep their neighbours and survive a reopen")
    func inPlaceWritesFlushed() async {
        await #expect(processExitsWith: .success) { try Self.checkInPlaceWrites(.flushed) }
    }

    @Test("an open on cache-line flushes measures a word method; on msync flushes there is none")
    func wordPersistenceChosen() async {
        await #expect(processExitsWith: .success) {
            unsetenv(WordPersistence.environmentVariable)
            let (scratch, pool) = try Self.cacheLinePool()
            guard pool.wordPersistence != nil else { exit(3) }
            pool.close()
            setenv("PMEM2_FORCE_GRANULARITY", "PAGE", 1)
            let paged = try Pool.open(at: scratch.path("pool"))
            guard paged.wordPersistence == nil else { exit(4) }
        }
    }

    @Test("the open's race stores page 0's bytes 128..<1152 back as they were, whatever they hold")
    func raceKeepsPage0() async {
        await #expect(processExitsWith: .success) {
            // Created with the method fixed, so that no race ran (and none
            // was remembered for the device) before the pattern is planted.
            setenv(WordPersistence.environmentVariable, "flushed", 1)
            let (scratch, pool) = try Self.cacheLinePool()
            pool.close()
            let path = scratch.path("pool").string
            let pattern = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let fd = open(path, O_RDWR)
            guard fd >= 0, pattern.withUnsafeBytes({ pwrite(fd, $0.baseAddress, 1024, 128) }) == 1024 else { exit(3) }
            unsetenv(WordPersistence.environmentVariable)
            let reopened = try Pool.open(at: scratch.path("pool"))
            guard reopened.wordPersistence != nil else { exit(4) } // the race ran
            reopened.close()
            var after = [UInt8](repeating: 0, count: 1024)
            guard after.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, 1024, 128) }) == 1024 else { exit(5) }
            guard after == pattern else { exit(6) }
            close(fd)
        }
    }

    @Test("small logged writes (9 B to 255 B, aligned and not) applied by non-temporal copies read back, also after a reopen")
    func smallLoggedWrites() async {
        await #expect(processExitsWith: .success) {
            let (scratch, pool) = try Self.cacheLinePool()
            let path = scratch.path("pool")
            var expected = [UInt8](repeating: 0, count: 16_384)
            var offset = 0
            for (i, count) in [9, 16, 63, 64, 65, 100, 128, 200, 255].enumerated() {
                for shift in [0, 3, 61] {
                    let at = offset + shift
                    let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 3 &+ i &+ shift &+ 1) }
                    try pool.write(bytes, at: at)
                    expected.replaceSubrange(at..<(at + count), with: bytes)
                    offset = PoolLayout.alignUp(at + count, 64)
                }
            }
            guard pool.statistics.remaps == 0, pool.statistics.inPlaceBytes == 0 else { exit(3) } // all logged
            guard try pool.read(at: 0, count: expected.count) == expected else { exit(4) }
            pool.close()
            let reopened = try Pool.open(at: path)
            guard try reopened.read(at: 0, count: expected.count) == expected else { exit(5) }
        }
    }
}
