import CMallocCounter
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// The one-write commit paths allocate nothing (issue: small commits at the
/// cost floor). Counted with the test binary's own malloc, on this thread.
@Suite("One-write commits allocate nothing")
struct AllocationFreeTests {
    /// Allocations made by `body` on this thread, after one warm-up call
    /// (first touches of lazily built state are not the path's cost).
    func allocations(_ body: () throws -> Void) throws -> UInt64 {
        try body()
        malloc_counter_start()
        var failure: (any Error)?
        for _ in 0..<100 { do { try body() } catch { failure = error; break } }
        let n = malloc_counter_stop()
        if let failure { throw failure }
        return n
    }

    @Test("in place, one logged piece (64 B and 4 KiB), one remapped chunk, from an array and from a raw buffer",
          arguments: ["/dev/shm", ext4TestDirectory])
    func noAllocations(base: String) throws {
        guard malloc_counter_available() != 0 else {
            try Skip.test(.sanitizer, "allocation counting is off under a sanitizer (it interposes malloc itself)")
        }
        let scratch = Scratch(on: base)
        let pool = try Pool.create(at: scratch.path("pool"), capacity: 8 << 20, chunkSize: 1 << 20, spareCapacity: 2 << 20)
        let word = [UInt8](repeating: 1, count: 8)
        let small = [UInt8](repeating: 2, count: 64)
        let page = [UInt8](repeating: 3, count: 4096)
        let chunk = [UInt8](repeating: 4, count: 1 << 20)
        #expect(try allocations { try pool.write(word, at: 64) } == 0, "in place")
        #expect(try allocations { try pool.write(small, at: 1000) } == 0, "64 B logged")
        #expect(try allocations { try pool.write(page, at: 10_000) } == 0, "4 KiB logged")
        #expect(try allocations { try pool.write(chunk, at: 2 << 20) } == 0, "one chunk remapped")
        #expect(try allocations { try page.withUnsafeBytes { try pool.write($0, at: 20_000) } } == 0, "4 KiB from a raw buffer")
        #expect(try allocations { try pool.write(page.span, at: 30_000) } == 0, "4 KiB from a Span<UInt8>")
        #expect(try allocations { try pool.write(page.span.bytes, at: 40_000) } == 0, "4 KiB from a RawSpan")
        #expect(try allocations { try pool.write(value: (UInt64(1), UInt64(2), UInt64(3)), at: 50_000) } == 0, "a 24-byte value")
        #expect(try pool.read(at: 30_000, count: 4096) == page && pool.read(at: 40_000, count: 4096) == page)
        #expect(try pool.load(UInt64.self, at: 50_008) == 2)
        // The streamed log (256 B and up where flushes are cache-line ones):
        // libpmem2's own calls, declared line flushes so that the path runs
        // on tmpfs's msync mapping too.
        let streamedPath = scratch.path("streamed")
        _ = try Pool.create(at: streamedPath, capacity: 8 << 20, chunkSize: 1 << 20, spareCapacity: 2 << 20)
        let streamed = try Pool.open(at: streamedPath, interposedBy: { real in
            var calls = real
            calls.flushesLines = true
            return calls
        })
        #expect(try allocations { try streamed.write(page, at: 10_000) } == 0, "4 KiB logged, streamed")
        #expect(try streamed.read(at: 10_000, count: 4096) == page)
        // The msync path (deferred applies, lanes in pairs): libpmem2's own
        // calls declared page flushes, whatever the base's granularity.
        let deferredPath = scratch.path("deferred")
        _ = try Pool.create(at: deferredPath, capacity: 8 << 20, chunkSize: 1 << 20, spareCapacity: 2 << 20)
        let deferred = try Pool.open(at: deferredPath, interposedBy: { real in
            var calls = real
            calls.flushesLines = false
            return calls
        })
        #expect(deferred.defersApply)
        #expect(try allocations { try deferred.write(small, at: 1000) } == 0, "64 B logged, apply deferred")
        #expect(try allocations { try deferred.write(page, at: 10_000) } == 0, "4 KiB logged, apply deferred")
        #expect(try allocations { try deferred.write(word, at: 10_000) } == 0, "in place over a deferred record (kills)")
        #expect(try allocations { try deferred.write(chunk, at: 2 << 20) } == 0, "one chunk remapped, lanes in pairs")
        #expect(try deferred.read(at: 10_000, count: 4096) == [UInt8](repeating: 1, count: 8) + page.dropFirst(8))
        // The counter works: an array allocation is seen.
        #expect(try allocations { _ = [UInt8](repeating: 0, count: 100 + Int.random(in: 0..<2)) } >= 100)
    }
}
