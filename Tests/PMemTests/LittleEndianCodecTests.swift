@testable import PMemSystem
import Testing

/// The record codec every on-media structure shares.
@Suite("Little-endian record codec")
struct LittleEndianCodecTests {
    @Test("fields land little-endian at any offset, and read back as written")
    func roundTrip() {
        let record = [UInt8].record(32) { w in
            w.store(Array("MAGIC".utf8), at: 0)
            w.store(UInt16(0x0102), at: 5)
            w.store(UInt32(0x0A0B_0C0D), at: 7)
            w.store(UInt64(0x1122_3344_5566_7788), at: 11)
            w.store(Int64(-2), at: 19)
        }
        #expect(Array(record[5..<7]) == [0x02, 0x01])
        #expect(Array(record[7..<11]) == [0x0D, 0x0C, 0x0B, 0x0A])
        #expect(Array(record[11..<19]) == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        record.withUnsafeBytes { bytes in
            let r = LittleEndianReader(bytes)
            #expect(r.matches(Array("MAGIC".utf8), at: 0))
            #expect(!r.matches(Array("MAGIK".utf8), at: 0))
            #expect(r.load(UInt16.self, at: 5) == 0x0102)
            #expect(r.load(UInt32.self, at: 7) == 0x0A0B_0C0D)
            #expect(r.load(UInt64.self, at: 11) == 0x1122_3344_5566_7788)
            #expect(r.load(Int64.self, at: 19) == -2)
            #expect(r.isZero(27..<32))
            #expect(!r.isZero(26..<32))
        }
    }

    @Test("a stored checksum matches its range, and stops matching when one byte of it changes")
    func checksums() {
        var record = [UInt8].record(64) { w in
            w.store(UInt64(42), at: 8)
            w.storeChecksum(of: 0..<60, at: 60)
        }
        let stored = record.withUnsafeBytes { LittleEndianReader($0).load(UInt32.self, at: 60) }
        #expect(stored == record.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<60])) })
        #expect(record.withUnsafeBytes { LittleEndianReader($0).checksumMatches(0..<60, storedAt: 60) })
        record[9] ^= 1
        #expect(!record.withUnsafeBytes { LittleEndianReader($0).checksumMatches(0..<60, storedAt: 60) })
    }
}
