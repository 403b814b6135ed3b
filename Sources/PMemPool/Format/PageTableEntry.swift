import PMemSystem
import PMemMapping
import PMemSealing
/// One page-table entry (docs/FORMAT.md, "Page table"): the physical chunk of
/// a logical chunk, with a CRC over both, in one 64-bit word that is only
/// ever changed by a single aligned store.
enum PageTableEntry {
    static func encode(logical: Int, physical: Int) -> UInt64 {
        UInt64(crc(logical: logical, physical: physical)) << 32 | UInt64(UInt32(physical))
    }

    /// The physical chunk a word names, its CRC unchecked.
    static func physical(ofWord word: UInt64) -> Int { Int(UInt32(truncatingIfNeeded: word)) }

    /// The physical chunk named by `word`, or nil if its CRC does not match.
    static func decode(_ word: UInt64, logical: Int) -> Int? {
        let named = physical(ofWord: word)
        return UInt32(truncatingIfNeeded: word >> 32) == crc(logical: logical, physical: named) ? named : nil
    }

    /// The first logical chunk of `table` (logical -> physical) whose
    /// physical chunk is out of range or named by an earlier entry too; nil
    /// when every entry is in range and none twice. One bit per physical
    /// chunk, not a hashed set: linear and cheap at millions of chunks.
    static func firstInvalid<Table: RandomAccessCollection>(in table: Table, physicalChunks: Int) -> Int?
        where Table.Element == Int, Table.Index == Int {
        var seen = [UInt64](repeating: 0, count: (physicalChunks + 63) / 64)
        for l in table.indices {
            let p = table[l]
            guard p >= 0, p < physicalChunks, seen[p >> 6] & (1 << UInt64(p & 63)) == 0 else { return l }
            seen[p >> 6] |= 1 << UInt64(p & 63)
        }
        return nil
    }

    private static func crc(logical: Int, physical: Int) -> UInt32 {
        var bytes = (UInt32(truncatingIfNeeded: logical).littleEndian, UInt32(truncatingIfNeeded: physical).littleEndian)
        return withUnsafeBytes(of: &bytes) { CRC32C.checksum($0) }
    }
}
