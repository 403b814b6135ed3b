@testable import PMemSystem
@testable import PMemPool
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// A pwrite that fails on the msync path's large copies (Pool+FileWrites.swift):
/// a clean error before the commit point, nothing changed, the pool still
/// usable; and pwrite that makes no progress is an error, not a loop.
@Suite("Large copies on the msync path when pwrite fails")
struct FileWriteFailureTests {
    @Test("a pwrite failing before the commit point of a logged or remapped write is a PMemError; the old bytes stay; the pool goes on",
          arguments: [20_000, 65_536])
    func failedCopy(size: Int) throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        try #require(pool.writesByFile)
        let old = [UInt8](repeating: 1, count: size)
        try pool.write(old, at: 65_536)
        let fault = InjectedFault(call: .pwrite, errno: .ioError)
        let error = Syscalls.$injectedFault.withValue(fault) { () -> PMemError? in
            do throws(PMemError) { try pool.write([UInt8](repeating: 2, count: size), at: 65_536); return nil } catch { return error }
        }
        #expect(fault.seen.total >= 1)
        #expect(error?.errno == .ioError, "the write returned \(String(describing: error))")
        #expect(try pool.read(at: 65_536, count: size) == old)
        try pool.write([UInt8](repeating: 3, count: size), at: 65_536)
        #expect(try pool.read(at: 65_536, count: size) == [UInt8](repeating: 3, count: size))
    }

    @Test("pwrite returning 0 for a non-empty buffer is an I/O error after one call")
    func noProgress() {
        var calls = 0
        let result = [UInt8](repeating: 0, count: 100).withUnsafeBytes { buffer in
            Syscalls.pwriteAll(buffer, at: 0) { _, _, _ in
                calls += 1
                return calls < 1000 ? 0 : -1 // the old loop spun; stop it here
            }
        }
        #expect(calls == 1)
        guard case .failure(let errno) = result else { Issue.record("no progress was reported as success"); return }
        #expect(errno == .ioError)
    }
}
