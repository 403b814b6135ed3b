import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// The first index where two byte arrays differ (nil when equal), so that a
/// failure reports a position instead of megabytes of bytes.
func firstMismatch(_ a: [UInt8], _ b: [UInt8]) -> Int? {
    if a.count != b.count { return min(a.count, b.count) }
    let equal = a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    return equal ? nil : a.indices.first { a[$0] != b[$0] }
}

/// A flag one task sets and another polls.
final class SharedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

/// Two numbers handed from one thread to another.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = (0, 0)
    func set(_ a: Int, _ b: Int) { lock.lock(); value = (a, b); lock.unlock() }
    func get() -> (Int, Int) { lock.lock(); defer { lock.unlock() }; return value }
}

/// A small pool for tests: 16 chunks of 64 KiB, 4 spare, 4 lanes.
func smallPool(_ scratch: Scratch, _ name: String = "pool", spare: Int = 4 * 65536) throws -> Pool {
    try Pool.create(at: scratch.path(name), capacity: 16 * 65536, chunkSize: 65536, spareCapacity: spare)
}

@Suite("Failure-atomic pools: writes, transactions, reopen")
struct PoolTests {
    @Test("writes of 1 byte to several chunks, aligned and unaligned, across chunk boundaries; reopen sees exactly them",
          arguments: [ext4TestDirectory, "/dev/shm"])
    func writesAndReopen(base: String) throws {
        let scratch = Scratch(on: base)
        let chunk = 65536
        var model = [UInt8](repeating: 0, count: 16 * chunk)
        let writes: [(Int, Int)] = [
            (0, 1), (7, 1), (8, 8), (13, 3), (chunk - 3, 7), (2 * chunk, chunk), (3 * chunk + 100, 2 * chunk),
            (5 * chunk - 1, 2), (6 * chunk, 3 * chunk), (15 * chunk + 1, chunk - 1),
        ]
        do {
            let pool = try smallPool(scratch)
            #expect(pool.capacity == 16 * chunk)
            #expect(pool.maxAtomicWrite == 4 * chunk)
            for (i, (offset, count)) in writes.enumerated() {
                let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &+ i &* 31 &+ 1) }
                try pool.write(bytes, at: offset)
                model.replaceSubrange(offset..<(offset + count), with: bytes)
                #expect(firstMismatch(try pool.withUnsafeBytes { Array($0) }, model) == nil, "after write \(i)")
            }
            let stats = pool.statistics
            #expect(stats.commits == writes.count)
            #expect(stats.inPlaceBytes > 0 && stats.logBytes > 0 && stats.remapBytes > 0 && stats.remaps > 0)
        }
        let reopened = try Pool.open(at: scratch.path("pool"))
        #expect(firstMismatch(try reopened.withUnsafeBytes { Array($0) }, model) == nil)
    }

    @Test("paths held in a String work wherever a FilePath does: create, open, copy, seal, verify, unseal, map")
    func stringPaths() throws {
        let scratch = Scratch(on: "/dev/shm")
        let poolPath: String = scratch.path("string-pool").string
        let copyPath: String = scratch.path("string-copy").string
        do {
            let pool = try Pool.create(at: poolPath, capacity: 1 << 20, chunkSize: 64 << 10)
            try pool.write([1, 2, 3], at: 100)
        }
        do {
            let copy = try Pool.copy(from: poolPath, to: copyPath)
            #expect(try copy.read(at: 100, count: 3) == [1, 2, 3])
        }
        #expect(try Pool.open(at: copyPath).read(at: 100, count: 3) == [1, 2, 3])
        let filePath: String = scratch.path("string-file").string
        try SealedFile.create(at: filePath, size: 1 << 20)
        #expect(try SealedFile.verify(filePath).isSealed)
        #expect(try SealedFile.open(filePath, access: .readOnly).report.isSealed)
        try SealedFile.unseal(filePath)
        #expect(try SealedFile.verify(filePath).isSealed == false)
        try SealedFile.seal(filePath)
        let map = try Mapping(path: filePath, access: .readOnly)
        #expect(map.count >= 1 << 20)
    }

    @Test("close() releases the lock at once (another open succeeds while the object lives), is idempotent, and every later operation throws poolClosed")
    func close() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("closed-pool")
        let pool = try Pool.create(at: path, capacity: 1 << 20, chunkSize: 64 << 10)
        try pool.write([7, 7, 7], at: 10)
        #expect(throws: PMemError.self) { try Pool.open(at: path) }   // busy while open
        pool.close()
        pool.close()
        let again = try Pool.open(at: path)
        #expect(try again.read(at: 10, count: 3) == [7, 7, 7])
        for (name, operation) in [("write", { try pool.write([1, 2, 3], at: 0) }), ("in place", { try pool.write([1], at: 0) }),
                                  ("load", { _ = try pool.load(UInt8.self, at: 0) }), ("read", { _ = try pool.read(at: 0, count: 1) }),
                                  ("store", { try pool.storeUncommitted(UInt8(1), at: 0) }), ("persist", { try pool.persist(0..<8) }),
                                  ("transaction", { try pool.transaction { tx in tx.write([1], at: 0) } }),
                                  ("check", { _ = try pool.check() })] as [(String, () throws -> Void)] {
            do {
                try operation()
                Issue.record("\(name) after close did not throw")
            } catch let error as PMemError {
                #expect(error.code == .poolClosed, "\(name): \(error)")
            }
        }
        #expect(try again.read(at: 0, count: 3) == [0, 0, 0], "nothing the closed object tried reached the file")
    }

    @Test("a transaction returns its body's value, its loads see its own pending writes laid over the pool, and a body that throws writes nothing")
    func transactionValueAndReads() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try Pool.create(at: scratch.path("tx-pool"), capacity: 1 << 20, chunkSize: 64 << 10)
        try pool.write([1, 2, 3, 4, 5, 6, 7, 8], at: 100)
        let seen = try pool.transaction { tx -> [UInt8] in
            tx.write([9, 9], at: 102)
            tx.store(UInt16(0x0B0A), at: 106)
            tx.write([7], at: 103)   // later writes win
            return try tx.read(at: 99, count: 10)
        }
        #expect(seen == [0, 1, 2, 9, 7, 5, 6, 0x0A, 0x0B, 0])
        #expect(try pool.read(at: 99, count: 10) == seen, "what the body read is what committed")
        let counter = try pool.transaction { tx in
            let next = try tx.load(UInt64.self, at: 4096) + 1
            tx.store(next, at: 4096)
            return try tx.load(UInt64.self, at: 4096)
        }
        #expect(counter == 1)
        #expect(try pool.load(UInt64.self, at: 4096) == 1)
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            try pool.transaction { tx in
                tx.write([0xEE], at: 100)
                throw Refused()
            }
        }
        #expect(try pool.read(at: 100, count: 1) == [1], "a body that throws writes nothing")
        #expect(throws: PMemError.self) { try pool.transaction { tx in try tx.read(at: (1 << 20) - 1, count: 2) } }
    }

    @Test("a transaction of several ranges commits them together; later writes win where they overlap")
    func transactions() throws {
        let scratch = Scratch(on: "/dev/shm")
        do {
            let pool = try smallPool(scratch)
            try pool.transaction { tx in
                tx.write([1, 2, 3], at: 10)
                tx.write([UInt8](repeating: 9, count: 65536), at: 65536)     // a whole chunk: remapped
                tx.write([UInt8](repeating: 4, count: 100), at: 200_000)      // partial: logged
                tx.write([7], at: 11)                                         // overrides the 2
                tx.store(UInt64(0xFEED), at: 65536 + 8)                       // inside the remapped chunk
            }
            #expect(try pool.read(at: 10, count: 3) == [1, 7, 3])
            #expect(try pool.load(UInt64.self, at: 65536 + 8) == 0xFEED)
            #expect(try pool.read(at: 65536, count: 8) == [UInt8](repeating: 9, count: 8))
            #expect(try pool.read(at: 200_000, count: 100) == [UInt8](repeating: 4, count: 100))
            #expect(pool.statistics.commits == 1)
        }
        let pool = try Pool.open(at: scratch.path("pool"))
        #expect(try pool.read(at: 10, count: 3) == [1, 7, 3])
        #expect(try pool.load(UInt64.self, at: 65536 + 8) == 0xFEED)
    }

    @Test("a write remapping hundreds of small chunks fits its lane; a transaction too big for a lane is refused untouched")
    func manyChunksInOneCommit() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try Pool.create(at: scratch.path("pool"), capacity: 1024 * 4096, chunkSize: 4096, spareCapacity: 600 * 4096)
        let big = [UInt8](repeating: 3, count: 512 * 4096 + 100)
        try pool.write(big, at: 4000)                 // 512 remapped chunks and two logged edges
        #expect(try pool.read(at: 4000, count: big.count) == big)
        #expect(pool.statistics.remaps >= 511)
        // A thousand tiny writes to distinct chunks of a pool with few spares:
        // more entry heads than a lane holds, and too few spares to copy out.
        let small = try Pool.create(at: scratch.path("small"), capacity: 1024 * 4096, chunkSize: 4096, spareCapacity: 8 * 4096)
        try small.write([3, 3, 3], at: 4097)
        let error = #expect(throws: PMemError.self) {
            try small.transaction { tx in for c in 0..<1024 { tx.write([9, 9, 9], at: c * 4096 + 1) } }
        }
        #expect(error?.code == .updateTooLarge)
        #expect(try small.read(at: 1, count: 3) == [0, 0, 0])
        #expect(try small.read(at: 4097, count: 3) == [3, 3, 3])
    }

    @Test("a transaction whose body throws writes nothing")
    func abortedTransaction() throws {
        struct Abort: Error {}
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        #expect(throws: Abort.self) {
            try pool.transaction { tx in
                tx.write([1, 2, 3], at: 0)
                throw Abort()
            }
        }
        #expect(try pool.read(at: 0, count: 3) == [0, 0, 0])
    }

    @Test("10,000 random atomic writes match a model in memory, and the view's mappings stay under the bound")
    func randomWrites() throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 65536
        let pool = try smallPool(scratch)
        var model = [UInt8](repeating: 0, count: pool.capacity)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<10_000 {
            let count: Int
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4: count = Int.random(in: 1...8, using: &rng)
            case 4..<8: count = Int.random(in: 9...3000, using: &rng)
            default: count = Int.random(in: chunk...(4 * chunk), using: &rng)
            }
            let offset = Int.random(in: 0...(pool.capacity - count), using: &rng)
            let bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: i % 251 + 1), count: count)
            try pool.write(bytes, at: offset)
            model.replaceSubrange(offset..<(offset + count), with: bytes)
            if i % 1000 == 999 {
                #expect(firstMismatch(try pool.withUnsafeBytes { Array($0) }, model) == nil, "after \(i + 1) writes")
                let mappings = pool.viewMappingCount
                #expect(mappings >= 1 && mappings <= 16, "the view has \(mappings) mappings")
            }
        }
        #expect(pool.statistics.remaps > 0)
    }

    @Test("a write past the capacity or larger than the largest atomic write is refused before anything changes")
    func badWrites() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let past = #expect(throws: PMemError.self) { try pool.write([1, 2], at: pool.capacity - 1) }
        #expect(past?.code == .outOfBounds)
        #expect(throws: PMemError.self) { try pool.write([1], at: -1) }
        let big = #expect(throws: PMemError.self) {
            try pool.write([UInt8](repeating: 1, count: pool.maxAtomicWrite + 65536), at: 0)
        }
        #expect(big?.code == .updateTooLarge)
        // The largest atomic write itself, unaligned, is fine.
        try pool.write([UInt8](repeating: 2, count: pool.maxAtomicWrite), at: 1)
        #expect(try pool.read(at: 0, count: 2) == [0, 2])
        #expect(try pool.withUnsafeBytes { $0[(pool.maxAtomicWrite + 1)...].allSatisfy { $0 == 0 } })
    }

    @Test("a reader of a chunk being remapped over and over never faults and never sees bytes nobody wrote")
    func readerDuringRemaps() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let chunk = 65536, base = 5 * chunk
        let done = SharedFlag()
        let started = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
        let result = ResultBox()
        // A hole in the view (as pmem2_map_delete would leave) would kill this
        // process with SIGSEGV on the reader's next load. A thread of its own,
        // so that the reader really runs while the writer remaps.
        let reader = Thread {
            var passes = 0, strangers = 0
            repeat {
                // A poisoned pool refuses the view: counted as a stranger.
                do {
                    try pool.withUnsafeBytes { bytes in
                        for page in stride(from: base, to: base + chunk, by: 512) where bytes[page] > 200 { strangers += 1 }
                    }
                } catch { strangers += 1 }
                passes += 1
                result.set(passes, strangers)
                if passes == 1 { started.signal() }
            } while !done.isSet
            result.set(passes, strangers)
            finished.signal()
        }
        reader.start()
        started.wait()
        for i in 0..<500 {
            if i == 499 {
                // On a loaded machine the writer can finish before the reader
                // is scheduled again: let it make one more pass while remaps
                // are still going on (bounded: 10 s).
                var waited = 0
                while result.get().0 < 2 && waited < 10_000 { usleep(1000); waited += 1 }
            }
            try pool.write([UInt8](repeating: UInt8(i % 200 + 1), count: chunk), at: base)
        }
        done.set()
        finished.wait()
        let (passes, strangers) = result.get()
        #expect(passes > 1)
        #expect(strangers == 0)
        #expect(pool.statistics.remaps == 500)
    }

    @Test("two threads committing disjoint ranges both land; overlapping commits are serialized, never mixed")
    func concurrentCommits() async throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let chunk = 65536
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<2 {
                group.addTask {
                    for i in 0..<300 {
                        // Disjoint: thread t owns chunks 2t and 2t+1.
                        try? pool.write([UInt8](repeating: UInt8(t + 1), count: 1000 + i), at: 2 * t * chunk + i)
                        // Overlapping: both write the whole of chunks 8...9 with their own byte.
                        try? pool.write([UInt8](repeating: UInt8(10 + t), count: 2 * chunk), at: 8 * chunk)
                        // And a partial overlap through the log.
                        try? pool.write([UInt8](repeating: UInt8(20 + t), count: 5000), at: 12 * chunk + 100)
                    }
                }
            }
        }
        try pool.withUnsafeBytes { bytes in
            #expect(bytes[0..<1299].allSatisfy { $0 == 1 })
            #expect(bytes[(2 * chunk)..<(2 * chunk + 1299)].allSatisfy { $0 == 2 })
            let whole = bytes[(8 * chunk)..<(10 * chunk)]
            #expect(whole.allSatisfy { $0 == 10 } || whole.allSatisfy { $0 == 11 })
            let part = bytes[(12 * chunk + 100)..<(12 * chunk + 5100)]
            #expect(part.allSatisfy { $0 == 20 } || part.allSatisfy { $0 == 21 })
        }
        #expect(pool.statistics.commits == 1800)
    }

    @Test("store and persist while another thread remaps the same chunk: they take turns on the chunk's lock, and no store is lost to a remap")
    func persistDuringRemap() async throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let chunk = 65536
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Whole-chunk writes of chunk 3 except its first word, by remapping
                // (the copy-out takes the word from the chunk's current copy).
                for i in 0..<200 { try? pool.write([UInt8](repeating: UInt8(i % 250), count: chunk - 8), at: 3 * chunk + 8) }
            }
            group.addTask {
                for i in 0..<200 {
                    try? pool.storeUncommitted(UInt64(i), at: 3 * chunk)
                    try? pool.persist((3 * chunk)..<(3 * chunk + 8))
                }
            }
        }
        // The last store survived every remap that followed it.
        #expect(try pool.load(UInt64.self, at: 3 * chunk) == 199)
        #expect(try pool.read(at: 3 * chunk + 8, count: chunk - 8).allSatisfy { $0 == 199 })
    }
}

@Suite("Failure-atomic pools: opening, locking, recovery, corruption")
struct PoolRecoveryTests {
    @Test("a second open of an open pool is refused, in this process and in another")
    func secondOpener() async throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        let pool = try smallPool(scratch)
        let error = #expect(throws: PMemError.self) { _ = try Pool.open(at: path) }
        #expect(error?.code == .poolBusy)
        // The path goes to the child as a captured value (ST-0012), not
        // through setenv, which is unsafe beside tests running in parallel.
        let pathString = path.string
        await #expect(processExitsWith: .success) { [pathString = pathString as String] in
            do { _ = try Pool.open(at: FilePath(pathString)); exit(2) } catch let error as PMemError { exit(error.code == .poolBusy ? 0 : 3) }
        }
        _ = pool.capacity
    }

    /// Pool.lock: a lock held for a moment by another open file description
    /// of the pool (as a child between its fork and its exec holds a copy of
    /// the opener's) is waited for; one held throughout is reported busy,
    /// after the 200 ms of retries.
    @Test("an open waits out a lock held for a moment by another descriptor, and reports poolBusy for one held throughout")
    func lockHeldForAMoment() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        do { _ = try smallPool(scratch) }
        let holder = open(path.string, O_RDONLY)
        try #require(holder >= 0)
        defer { close(holder) }
        try #require(flock(holder, LOCK_EX | LOCK_NB) == 0)
        final class Flag: @unchecked Sendable {
            private let lock = NSLock()
            private var value = false
            var released: Bool {
                get { lock.withLock { value } }
                set { lock.withLock { value = newValue } }
            }
        }
        let flag = Flag()
        let done = DispatchSemaphore(value: 0)
        Thread {
            usleep(50_000)
            flag.released = true  // before the unlock, which the open waits for
            flock(holder, LOCK_UN)
            done.signal()
        }.start()
        let pool = try Pool.open(at: path)
        #expect(flag.released, "opened while another descriptor held the lock")
        done.wait()
        pool.close()
        // Held throughout: refused.
        try #require(flock(holder, LOCK_EX | LOCK_NB) == 0)
        let error = #expect(throws: PMemError.self) { _ = try Pool.open(at: path) }
        #expect(error?.code == .poolBusy)
    }

    @Test("a crash after the log body is written but before the commit record: reopen shows the state before",
          arguments: [CrashPoint.afterLogBody])
    func crashBeforeCommit(point: CrashPoint) throws {
        try crash(at: point, expectNew: false)
    }

    @Test("a crash after the commit record (before or after applying): reopen shows the state after",
          arguments: [CrashPoint.afterCommitRecord, .afterApply])
    func crashAfterCommit(point: CrashPoint) throws {
        try crash(at: point, expectNew: true)
    }

    /// A transaction mixing a remapped chunk and logged pieces, stopped at
    /// `point`; then the pool is dropped without cleanup and opened again.
    func crash(at point: CrashPoint, expectNew: Bool) throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        let chunk = 65536
        do {
            let pool = try smallPool(scratch)
            try pool.write([UInt8](repeating: 1, count: 3 * chunk), at: 0)
            let error = Pool.$crashPoint.withValue(point) {
                #expect(throws: PMemError.self) {
                    try pool.transaction { tx in
                        tx.write([UInt8](repeating: 2, count: chunk), at: chunk)      // remapped
                        tx.write([UInt8](repeating: 3, count: 100), at: 10)           // logged
                        tx.write([UInt8](repeating: 4, count: 100), at: 2 * chunk + 5) // logged
                    }
                }
            }
            #expect(error?.code == .simulatedCrash)
            if point != .afterLogBody {
                // Until recovery runs, the pool says so instead of writing on.
                let blocked = #expect(throws: PMemError.self) { try pool.write([UInt8](repeating: 9, count: 20), at: 8 * chunk) }
                #expect(blocked?.code == .needsRecovery)
                // Every way of writing waits for recovery, the in-place ones too.
                #expect(throws: PMemError.self) { try pool.write([1], at: 16 * 4096 - 8) }
                #expect(throws: PMemError.self) { try pool.storeUncommitted(UInt8(1), at: 0) }
                #expect(throws: PMemError.self) { try pool.persist(0..<8) }
            }
        }
        let pool = try Pool.open(at: path)
        let bytes = try pool.withUnsafeBytes { Array($0) }
        var expected = [UInt8](repeating: 1, count: 3 * chunk) + [UInt8](repeating: 0, count: 13 * chunk)
        if expectNew {
            expected.replaceSubrange(chunk..<(2 * chunk), with: [UInt8](repeating: 2, count: chunk))
            expected.replaceSubrange(10..<110, with: [UInt8](repeating: 3, count: 100))
            expected.replaceSubrange((2 * chunk + 5)..<(2 * chunk + 105), with: [UInt8](repeating: 4, count: 100))
        }
        #expect(firstMismatch(bytes, expected) == nil)
        // Every lane is idle again, and the pool goes on working.
        try pool.write([5, 5, 5], at: 3)
        #expect(try pool.read(at: 3, count: 3) == [5, 5, 5])
    }

    @Test("a crash during recovery is recovered by the next open")
    func crashDuringRecovery() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        do {
            let pool = try smallPool(scratch)
            Pool.$crashPoint.withValue(.afterCommitRecord) {
                _ = try? pool.write([UInt8](repeating: 6, count: 70000), at: 1000)
            }
        }
        Pool.$crashPoint.withValue(.duringRecovery) {
            #expect(throws: PMemError.self) { _ = try Pool.open(at: path) }
        }
        let pool = try Pool.open(at: path)
        #expect(try pool.read(at: 1000, count: 70000).allSatisfy { $0 == 6 })
        #expect(try pool.read(at: 999, count: 1) == [0])
    }

    @Test("a damaged header or page-table entry is poolCorrupt; a plain sealed file is notAPool",
          arguments: ["header", "page table", "duplicate chunk"])
    func corruption(region: String) throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        var lanesOffset = 0
        do {
            let pool = try smallPool(scratch)
            lanesOffset = pool.layout.lanesOffset
            if region == "log body" {
                Pool.$crashPoint.withValue(.afterCommitRecord) { _ = try? pool.write([UInt8](repeating: 6, count: 300), at: 5) }
            }
        }
        let fd = try FileDescriptor.open(path, .readWrite)
        switch region {
        case "header": _ = try fd.writeAll(toAbsoluteOffset: 20, [0x55])
        case "page table": _ = try fd.writeAll(toAbsoluteOffset: 4096 + 8 * 3 + 1, [0x55])
        case "duplicate chunk":
            let entry = PageTableEntry.encode(logical: 3, physical: 2).littleEndian
            _ = try withUnsafeBytes(of: entry) { try fd.writeAll(toAbsoluteOffset: 4096 + 8 * 3, $0) }
        default: _ = try fd.writeAll(toAbsoluteOffset: Int64(lanesOffset + 64 + 30), [0x55])
        }
        try fd.close()
        let error = #expect(throws: PMemError.self) { _ = try Pool.open(at: path) }
        #expect(error?.code == .poolCorrupt)

        let plain = scratch.path("plain")
        try SealedFile.create(at: plain, size: 1 << 20)
        let notPool = #expect(throws: PMemError.self) { _ = try Pool.open(at: plain) }
        #expect(notPool?.code == .notAPool)
    }

    @Test("version 2: a committed record whose body no longer matches its checksum is a torn record, ignored: the write is absent, nothing else changed")
    func damagedLogBodyIsATornRecord() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        var lanesOffset = 0, laneSize = 0
        do {
            let pool = try smallPool(scratch)
            lanesOffset = pool.layout.lanesOffset
            laneSize = pool.layout.laneSize
            try pool.write([UInt8](repeating: 4, count: 16), at: 400)
            Pool.$crashPoint.withValue(.afterCommitRecord) { _ = try? pool.write([UInt8](repeating: 6, count: 300), at: 5) }
        }
        // Every lane's record: flip a byte of each body.
        let fd = try FileDescriptor.open(path, .readWrite)
        for lane in 0..<4 { _ = try fd.writeAll(toAbsoluteOffset: Int64(lanesOffset + lane * laneSize + 64 + 30), [0x55]) }
        try fd.close()
        let pool = try Pool.open(at: path)
        #expect(pool.recoveredCommits == 0)
        #expect(try pool.read(at: 5, count: 300) == [UInt8](repeating: 0, count: 300))
        #expect(try pool.read(at: 400, count: 16) == [UInt8](repeating: 4, count: 16))
    }

    @Test("bad create arguments are refused and leave no file",
          arguments: [(100_000, 65536), (65536 * 4, 1000), (65536 * 4, 3 * 4096), (0, 65536)])
    func badCreate(capacity: Int, chunk: Int) throws {
        let scratch = Scratch(on: "/dev/shm")
        #expect(throws: PMemError.self) { _ = try Pool.create(at: scratch.path("p"), capacity: capacity, chunkSize: chunk) }
        #expect(access(scratch.path("p").string, F_OK) != 0)
    }

    @Test("pool creation interrupted at any of its steps leaves no file at all, so nothing half-made can be opened",
          arguments: [Syscall.open, .fallocate, .pwrite, .fsync, .ioctl, .setxattr, .link, .fstatfs])
    func interruptedCreate(failing call: Syscall) throws {
        let scratch = Scratch()
        let path = scratch.path("pool")
        let error = Syscalls.$injectedFault.withValue(InjectedFault(call: call, errno: .ioError)) {
            #expect(throws: PMemError.self) { _ = try Pool.create(at: path, capacity: 16 * 65536, chunkSize: 65536) }
        }
        #expect(error != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.directory.string).isEmpty)
        // And the same path then works.
        _ = try Pool.create(at: path, capacity: 16 * 65536, chunkSize: 65536)
    }

    @Test("a pool reports its I/O facts and metadata ranges")
    func poolInfo() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        #expect(pool.ioInfo.maxAtomicWrite == 4 * 65536)
        #expect(pool.ioInfo.hardwareAtomicUnit == 8)
        #expect(pool.chunkSize == 65536)
        #expect(pool.laneCount == 4)
        #expect(pool.metadataRanges.first == 0..<128)
        #expect(pool.metadataRanges.last!.upperBound <= pool.layout.dataOffset)
    }
}

@Suite("Pool format versions")
struct PoolVersionTests {
    @Test("a version-1 pool and a pool from a newer library are refused with unsupportedVersion, naming the version, never as corrupt",
          arguments: [UInt16(1), UInt16(3)])
    func otherVersions(version: UInt16) throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        _ = try smallPool(scratch)
        // The header as another library would have written it: its version,
        // and a checksum that matches.
        let fd = try FileDescriptor.open(path, .readWrite)
        var header = [UInt8](repeating: 0, count: PoolLayout.headerSize)
        _ = try header.withUnsafeMutableBytes { try fd.read(fromAbsoluteOffset: 0, into: $0) }
        withUnsafeBytes(of: version.littleEndian) { header.replaceSubrange(8..<10, with: $0) }
        let crc = header.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<124])) }
        withUnsafeBytes(of: crc.littleEndian) { header.replaceSubrange(124..<128, with: $0) }
        _ = try fd.writeAll(toAbsoluteOffset: 0, header)
        try fd.close()
        let error = #expect(throws: PMemError.self) { _ = try Pool.open(at: path) }
        #expect(error?.code == .unsupportedVersion)
        #expect(error?.message.contains("version \(version)") == true)
        #expect(error?.message.contains(version < 2 ? "older" : "newer") == true)
    }
}
