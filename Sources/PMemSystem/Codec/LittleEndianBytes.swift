/// The one codec of every on-media record (the seal, the pool header, the
/// shutdown record, commit records, and the fuzzer's image tools): fixed-width
/// integers at byte offsets, little-endian, any alignment, and CRC-32C
/// checksums over byte ranges. Offsets outside the bytes are a programming
/// error (a decoder checks the record's size first) and trap.
package struct LittleEndianReader {
    package let bytes: UnsafeRawBufferPointer

    package init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    package init(_ start: UnsafeRawPointer, count: Int) { bytes = UnsafeRawBufferPointer(start: start, count: count) }

    /// The integer of type `T` at `offset`.
    @inline(__always)
    package func load<T: FixedWidthInteger & BitwiseCopyable>(_ type: T.Type, at offset: Int) -> T {
        precondition(fits(offset, MemoryLayout<T>.size, in: bytes.count), "a record field past the record's bytes")
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// The bytes of `range`.
    package func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(fits(range.lowerBound, range.count, in: bytes.count), "a record range past the record's bytes")
        return UnsafeRawBufferPointer(rebasing: bytes[range])
    }

    /// Whether every byte of `range` is zero (reserved fields, padding).
    package func isZero(_ range: Range<Int>) -> Bool { slice(range).allSatisfy { $0 == 0 } }

    /// Whether the bytes of `range` are `expected` (a magic).
    package func matches(_ expected: [UInt8], at offset: Int) -> Bool {
        slice(offset..<(offset + expected.count)).elementsEqual(expected)
    }

    /// The CRC-32C of the bytes of `range`.
    package func checksum(of range: Range<Int>) -> UInt32 { CRC32C.checksum(slice(range)) }

    /// Whether the CRC-32C of `range` is the 32-bit value stored at `offset`.
    package func checksumMatches(_ range: Range<Int>, storedAt offset: Int) -> Bool {
        checksum(of: range) == load(UInt32.self, at: offset)
    }
}

/// Writes what ``LittleEndianReader`` reads.
package struct LittleEndianWriter {
    package let bytes: UnsafeMutableRawBufferPointer

    package init(_ bytes: UnsafeMutableRawBufferPointer) { self.bytes = bytes }

    package init(_ start: UnsafeMutableRawPointer, count: Int) { bytes = UnsafeMutableRawBufferPointer(start: start, count: count) }

    /// What has been written so far, to read back.
    package var reader: LittleEndianReader { LittleEndianReader(UnsafeRawBufferPointer(bytes)) }

    /// Stores `value` at `offset`.
    @inline(__always)
    package func store<T: FixedWidthInteger & BitwiseCopyable>(_ value: T, at offset: Int) {
        precondition(fits(offset, MemoryLayout<T>.size, in: bytes.count), "a record field past the record's bytes")
        bytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    /// Copies `value` (a magic) to `offset`.
    package func store(_ value: [UInt8], at offset: Int) {
        precondition(fits(offset, value.count, in: bytes.count), "a record field past the record's bytes")
        value.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<(offset + value.count)]).copyMemory(from: $0) }
    }

    /// Stores the CRC-32C of the bytes of `range` at `offset`.
    package func storeChecksum(of range: Range<Int>, at offset: Int) {
        store(reader.checksum(of: range), at: offset)
    }
}

extension Array where Element == UInt8 {
    /// A zeroed record of `count` bytes, filled in by `body`.
    package static func record(_ count: Int, _ body: (LittleEndianWriter) -> Void) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { body(LittleEndianWriter($0)) }
        return bytes
    }
}
