import Foundation
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// Every system call and libpmem2 call on the create, seal, open, commit and
/// remap paths, made to fail in turn (the first, then the second, … until
/// the path runs to the end without reaching the fault): each failure is a
/// PMemError with a message, and afterwards the file is as the last
/// successful operation left it.
@Suite("Every failing call, in turn")
struct FaultInjectionTests {
    /// Runs `body` once per call it makes, with that call failing, then once
    /// more with nothing failing; `check` sees each run's error (nil when
    /// the run succeeded). Returns the number of calls on the path.
    @discardableResult
    static func failEachCall(errno: Errno = .ioError, _ body: () throws(PMemError) -> Void,
                             check: (_ failedCall: Int?, _ error: PMemError?) throws -> Void) throws -> Int {
        for k in 0..<2000 {
            let fault = InjectedFault(call: nil, errno: errno, occurrence: k)
            let error = Syscalls.$injectedFault.withValue(fault) { () -> PMemError? in
                do throws(PMemError) { try body(); return nil } catch { return error }
            }
            if let error { #expect(!error.message.isEmpty) }
            let reached = fault.seen.total > k
            try check(reached ? k : nil, error)
            if !reached {
                #expect(error == nil, "with no call failing the path still failed: \(error!)")
                return k
            }
        }
        Issue.record("the path never finished")
        return 0
    }

    static let capacity = 16 * 65536
    static let committed = (0..<capacity).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    /// A pool holding `committed`.
    static func committedPool(_ scratch: Scratch) throws -> FilePath {
        let pool = try smallPool(scratch)
        for chunk in stride(from: 0, to: capacity, by: 4 * 65536) {
            try pool.write(Array(committed[chunk..<chunk + 4 * 65536]), at: chunk)
        }
        return pool.path
    }

    func names(in scratch: Scratch) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: scratch.directory.string).sorted()
    }

    @Test("creating a pool: a failure at any call leaves no file; ENOSPC at any call leaves nothing that claims to be sealed",
          arguments: [Errno.ioError, .noSpace])
    func create(errno: Errno) throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool")
        let calls = try Self.failEachCall(errno: errno, { () throws(PMemError) in
            _ = try Pool.create(at: path, capacity: 4 * 65536, chunkSize: 65536)
        }, check: { failed, error in
            if error != nil {
                let left = try names(in: scratch)
                #expect(left.isEmpty, "call \(failed ?? -1) failed and left \(left)")
            } else {
                _ = try Pool.open(at: path)
                try FileManager.default.removeItem(atPath: path.string)
            }
        })
        #expect(calls > 15)
    }

    @Test("sealing a file: a failure at any call leaves it unsealed or sealed and verifiable, never a seal that lies")
    func seal() throws {
        let scratch = try Scratch.ext4()
        let path = scratch.file("f", count: 1 << 20, byte: 1)
        let calls = try Self.failEachCall({ () throws(PMemError) in _ = try SealedFile.seal(path) }, check: { failed, error in
            do {
                let report = try SealedFile.verify(path)
                if error == nil { #expect(report.isSealed) }
                if report.isSealed { _ = try SealedFile.open(path); try SealedFile.unseal(path) }
            } catch {
                Issue.record("after call \(failed ?? -1) failed, the file does not verify: \(error)")
            }
            let bytes = readFile(path)
            #expect(bytes.count == 1 << 20 && bytes.allSatisfy { $0 == 1 }, "sealing never changes the bytes")
        })
        #expect(calls > 5)
    }

    @Test("opening a pool: a failure at any call is reported, and the next open sees the committed contents")
    func open() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = try Self.committedPool(scratch)
        let calls = try Self.failEachCall({ () throws(PMemError) in
            let pool = try Pool.open(at: path)
            _ = try pool.read(at: 0, count: 8)
        }, check: { failed, _ in
            let pool = try Pool.open(at: path)
            #expect(firstMismatch(try pool.read(at: 0, count: Self.capacity), Self.committed) == nil, "call \(failed ?? -1)")
        })
        #expect(calls > 10)
    }

    /// A logged commit makes no call that can fail (its flushes and fences
    /// are libpmem2's function pointers), so only commits that remap a chunk
    /// are here: their one fallible call, mmap over the view, comes after
    /// the commit point.
    @Test("committing (remapped and mixed updates): a failure at any call leaves the old or the new contents, and the new ones if the commit returned",
          arguments: ["remapped", "transaction"])
    func commit(kind: String) throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = try Self.committedPool(scratch)
        var expected = Self.committed
        let update = [UInt8](repeating: 0xEE, count: 3 * 65536 + 100)
        switch kind {
        case "remapped": expected.replaceSubrange(65536..<65536 + update.count, with: update)
        default:
            expected.replaceSubrange(1000..<1300, with: update[0..<300])
            expected.replaceSubrange(5 * 65536..<5 * 65536 + update.count, with: update)
        }
        var pool: Pool? = try Pool.open(at: path)
        var outcomes: [String: Int] = [:]
        let calls = try Self.failEachCall({ () throws(PMemError) in
            switch kind {
            case "remapped": try pool!.write(update, at: 65536)
            default:
                do {
                    try pool!.transaction { tx in
                        tx.write(Array(update[0..<300]), at: 1000)
                        tx.write(update, at: 5 * 65536)
                    }
                } catch let error as PMemError { throw error } catch { Issue.record("\(error)") }
            }
        }, check: { failed, error in
            pool = nil
            let reopened = try Pool.open(at: path)
            let contents = try reopened.read(at: 0, count: Self.capacity)
            let isNew = firstMismatch(contents, expected) == nil
            let isOld = firstMismatch(contents, Self.committed) == nil
            #expect(isNew || isOld, "call \(failed ?? -1) failed and the pool holds neither state")
            if error == nil { #expect(isNew, "the commit returned, so the update must be there") }
            outcomes[isNew ? "new" : "old", default: 0] += 1
            for chunk in stride(from: 0, to: Self.capacity, by: 4 * 65536) {   // back to the committed state
                try reopened.write(Array(Self.committed[chunk..<chunk + 4 * 65536]), at: chunk)
            }
            pool = reopened
        })
        #expect(calls > 0, "the path made no call that could fail")
        print("commit \(kind): \(outcomes)")
    }
}

/// The files a pool lives in: who may open them and how.
@Suite("Pool files: permissions, links, openers, read-only media")
struct PoolFileSafetyTests {
    @Test("a pool file is created 0600, and a symbolic link to it is refused at open")
    func permissionsAndLinks() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = try smallPool(scratch).path
        var st = stat()
        #expect(stat(path.string, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let link = scratch.path("link")
        #expect(symlink(path.string, link.string) == 0)
        let error = #expect(throws: PMemError.self) { _ = try Pool.open(at: link) }
        #expect(error?.code == .symbolicLink)
        _ = try Pool.open(at: path)
    }

    @Test("on a read-only mount a sealed file opens and maps for reading; a pool says read-only, clearly")
    func readOnlyMedia() throws {
        let loop = try LoopMount(mkfs: ["mkfs.ext4", "-q"], sizeMiB: 64)
        let file = loop.path("sealed"), poolPath = loop.path("pool")
        do {
            try SealedFile.create(at: file, size: 1 << 20)
            let map = try SealedFile.open(file).map()
            try map.store(UInt64(0xFEED), at: 4096)
            try map.persist(4096..<4104)
            _ = try Pool.create(at: poolPath, capacity: 4 * 65536, chunkSize: 65536)
        }
        try loop.remountReadOnly()
        let sealed = try SealedFile.open(file, access: .readOnly)
        #expect(sealed.report.isSealed)
        let map = try sealed.map()
        #expect(try map.load(UInt64.self, at: 4096) == 0xFEED)
        let writable = #expect(throws: PMemError.self) { _ = try SealedFile.open(file, access: .readWrite) }
        #expect(writable?.code == .readOnly)
        let pool = #expect(throws: PMemError.self) { _ = try Pool.open(at: poolPath) }
        #expect(pool?.code == .readOnly)
        #expect(pool?.message.isEmpty == false)
    }
}
