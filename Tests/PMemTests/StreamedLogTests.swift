import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemPool
import PMem
import PMemTestSupport
import Testing

/// A large logged write on libpmem2's cache flushes copies its payload into
/// the lane and checksums it in one pass (`CRC32C.copyThreeParts`).
@Suite("Streamed logs: the payload copied and checksummed in one pass")
struct StreamedLogTests {
    @Test("the one-pass copy writes data and zero padding, nothing past them, and checksums as the table does, whatever part goes through the cache, folded or not, at any 8-byte alignment",
          arguments: [0, 8, 24], [0, 8, 40])
    func copyMatchesThreeParts(headSize: Int, throughCache: Int) throws {
        try #require(CRC32C.hardwareAvailable, "no crc32 instruction: the copy is never used here")
        let head = (0..<headSize).map { UInt8(truncatingIfNeeded: $0 &* 5 &+ 1) }
        let sizes = Array(1...100) + [255, 256, 257, 2040, 2047, 2048, 2049, 4095, 4096, 65_537, 1 << 20]
        for (index, n) in sizes.enumerated() {
            let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ n) }
            let padded = (n + 7) & ~7
            // The table's checksums of the body laid out in one piece.
            let body = head + data + [UInt8](repeating: 0, count: padded - n)
            let part = body.count / 24 * 8
            let expected = body.withUnsafeBytes { b in
                (CRC32C.tableChecksum(UnsafeRawBufferPointer(rebasing: b[0..<part])),
                 CRC32C.tableChecksum(UnsafeRawBufferPointer(rebasing: b[part..<(2 * part)])),
                 CRC32C.tableChecksum(UnsafeRawBufferPointer(rebasing: b[(2 * part)...])))
            }
            // Where the destination starts within a line decides where the
            // fold's whole lines begin.
            let shift = 8 * (index % 8)
            for folding in [false, true] {
                var destination = [UInt8](repeating: 0xEE, count: padded + 64 + 128)
                let sums = try head.withUnsafeBytes { h in
                    try data.withUnsafeBytes { d in
                        try destination.withUnsafeMutableBytes { out in
                            let lineStart = (64 - Int(bitPattern: out.baseAddress!) % 64) % 64
                            let start = out.baseAddress! + lineStart + shift
                            return (lineStart + shift,
                                    try #require(CRC32C.copyThreeParts(into: start, head: h, data: d, throughCache: throughCache,
                                                                       folding: folding)))
                        }
                    }
                }
                let (at, got) = sums
                #expect(got == expected, "checksums of a \(n)-byte body after a \(headSize)-byte head, folding \(folding)")
                #expect(body.withUnsafeBytes { CRC32C.threeParts($0) } == expected)
                #expect(head.withUnsafeBytes { h in data.withUnsafeBytes { d in CRC32C.threeParts(head: h, data: d, padding: padded - n) } }
                        == expected)
                #expect(destination[..<at].allSatisfy { $0 == 0xEE }, "bytes before the copy of \(n)")
                #expect(Array(destination[at..<(at + n)]) == data, "\(n), folding \(folding)")
                #expect(destination[(at + n)..<(at + padded)].allSatisfy { $0 == 0 }, "padding of \(n)")
                #expect(destination[(at + padded)...].allSatisfy { $0 == 0xEE }, "bytes past the padding of \(n)")
            }
        }
    }

    @Test("the copy refuses a destination that is not 8-byte aligned, or a cached part that is not whole words, doing nothing",
          arguments: [(3, 0), (0, 4), (0, -8)])
    func unalignedIsRefused(misalignment: Int, throughCache: Int) throws {
        var destination = [UInt8](repeating: 0xEE, count: 4200)
        let data = [UInt8](repeating: 1, count: 4096)
        let result = data.withUnsafeBytes { d in
            destination.withUnsafeMutableBytes { out in
                CRC32C.copyThreeParts(into: out.baseAddress! + 8 + misalignment, head: UnsafeRawBufferPointer(start: nil, count: 0), data: d,
                                      throughCache: throughCache)
            }
        }
        #expect(result == nil)
        #expect(destination.allSatisfy { $0 == 0xEE })
    }

    // On the forced cache-line path (a child process: PMEM2_FORCE_GRANULARITY
    // is read at each map): a crash after the commit record leaves the apply
    // undone, so the reopen must replay the record, which it does only if
    // the one-pass checksums are right.
    @Test("large logged writes on libpmem2's cache flushes, crashed after the commit record, are replayed at reopen")
    func streamedRecordsReplay() async {
        await #expect(processExitsWith: .success) {
            setenv("PMEM2_FORCE_GRANULARITY", "cache_line", 1)
            let scratch = Scratch(on: "/dev/shm")
            let path = scratch.path("pool")
            _ = try Pool.create(at: path, capacity: 12 << 20, chunkSize: 2 << 20, spareCapacity: 4 << 20, lanes: 2)
            for (i, n) in [256, 2048, 4099, 65_536, 1 << 20].enumerated() {
                let payload = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i &+ 1) }
                let offset = i * (2 << 20) + 3 // inside chunk i: one logged piece
                do {
                    let pool = try Pool.open(at: path)
                    guard pool.persistence.flushesLines else { exit(2) }
                    let error = Pool.$crashPoint.withValue(.afterCommitRecord) { () -> PMemError? in
                        do throws(PMemError) { try pool.write(payload, at: offset); return nil } catch { return error }
                    }
                    guard error?.code == .simulatedCrash else { exit(3) }
                    guard pool.statistics.remaps == 0 else { exit(4) }
                }
                let reopened = try Pool.open(at: path)
                guard reopened.recoveredCommits == 1 else { exit(5) }
                guard try reopened.read(at: offset, count: n) == payload else { exit(6) }
            }
        }
    }
}
