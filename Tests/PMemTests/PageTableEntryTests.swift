@testable import PMemSystem
@testable import PMemPool
@testable import PMemCrashTesting
import Testing

/// docs/FORMAT.md, "Page table": the open checks every entry's CRC in one
/// call over the table (CRC32C.checkKeyedWords), the same check as
/// PageTableEntry.decode, entry by entry.
@Suite("Page-table entries checked in bulk")
struct PageTableEntryTests {
    @Test("the bulk check agrees with the entry-by-entry decode, with and without the crc32 instruction, and names the first damaged entry")
    func bulkCheckAgreesWithDecode() {
        var g = SeededGenerator(state: 11)
        let first = 1000, count = 5000
        var words = (0..<count).map { i in
            PageTableEntry.encode(logical: first + i, physical: Int.random(in: 0..<(1 << 31), using: &g)).littleEndian
        }
        let modes = CRC32C.hardwareAvailable ? [true, false] : [false]
        for hardware in modes {
            var values = [Int](repeating: -1, count: count)
            let intact = words.withUnsafeBytes { w in
                values.withUnsafeMutableBufferPointer { CRC32C.checkKeyedWords(w.baseAddress!, firstKey: first, count: count, values: $0.baseAddress!, hardware: hardware) }
            }
            #expect(intact == count, "hardware: \(hardware)")
            for i in 0..<count {
                #expect(values[i] == PageTableEntry.decode(UInt64(littleEndian: words[i]), logical: first + i))
            }
        }
        // One flipped bit in the CRC half of entry 3,777, then one in the
        // value half of entry 12: each time the first damaged one is named.
        words[3777] ^= UInt64(1 << 40).littleEndian
        words[12] ^= UInt64(1 << 3).littleEndian
        for hardware in modes {
            var values = [Int](repeating: -1, count: count)
            let intact = words.withUnsafeBytes { w in
                values.withUnsafeMutableBufferPointer { CRC32C.checkKeyedWords(w.baseAddress!, firstKey: first, count: count, values: $0.baseAddress!, hardware: hardware) }
            }
            #expect(intact == 12, "hardware: \(hardware)")
            #expect(PageTableEntry.decode(UInt64(littleEndian: words[12]), logical: first + 12) == nil)
        }
    }
}
