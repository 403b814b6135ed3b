/// Write number `n` of the torture sequence: sizes from 1 byte to three
/// chunks of 64 KiB, aligned and not, some spanning chunk boundaries; every
/// byte of it says which write it belongs to.
package struct TortureWrite {
    package var offset: Int
    package var bytes: [UInt8]

    package init(_ n: Int, capacity: Int) {
        var x = UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15 ^ 0xD1B5_4A32_D192_ED03
        x ^= x >> 29
        let sizes = [1, 8, 100, 4000, 65536, 70000, 3 * 65536 - 1]
        let size = sizes[Int(x % UInt64(sizes.count))]
        offset = Int((x >> 8) % UInt64(capacity - size))
        if size == 8 { offset &= ~7 }
        bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: n % 255 + 1), count: size)
    }
}
