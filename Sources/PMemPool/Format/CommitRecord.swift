import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics

/// The commit record at the start of a lane, and the log entries of its
/// body (docs/FORMAT.md, "Lanes", version 2).
///
/// Header, 64 bytes: magic (8), sequence (8, 0 = dead), entry count (4),
/// reserved (4), body length (8), the CRC-32C of each of the body's three
/// parts (3 × 4), reserved (16), CRC-32C (4) of header bytes 0..<60.
enum CommitRecord {
    /// "PMCOMMIT" read as a little-endian word (a literal: a computed
    /// global would cost a lazy-initialization check on every commit).
    static let magic: UInt64 = 0x5449_4D4D_4F43_4D50
    static let entryHeadSize = 24
    static let headerSize = 64
    /// The header's fields: byte offsets from the start of the lane.
    static let sequenceOffset = 8, entryCountOffset = 16, bodyLengthOffset = 24, partChecksumsOffset = 32, checksumOffset = 60

    /// Writes the header of a record whose body (`bodyLength` bytes) is
    /// already in place after it: the body's three part checksums, then the
    /// header's checksum over them. The sequence word is one atomic store
    /// (other threads read it). The body is read while its lines are still in
    /// this core's cache, before anything is flushed.
    /// `bodyChecksums`, when given, are the body's (computed from its
    /// sources, when the body was copied with non-temporal stores).
    static func writeHeader(_ record: UnsafeMutableRawPointer, sequence: UInt64, entryCount: Int, bodyLength: Int,
                            bodyChecksums: (UInt32, UInt32, UInt32)? = nil) {
        pmem_store64(record, magic.littleEndian)
        pmem_store64(record + sequenceOffset, sequence.littleEndian)
        pmem_store64(record + entryCountOffset, UInt64(UInt32(entryCount)).littleEndian)
        pmem_store64(record + bodyLengthOffset, UInt64(bodyLength).littleEndian)
        seal(record, bodyLength: bodyLength, bodyChecksums: bodyChecksums)
    }

    /// Writes the checksums of a record whose other fields are in place.
    static func seal(_ record: UnsafeMutableRawPointer, bodyLength: Int, bodyChecksums: (UInt32, UInt32, UInt32)? = nil) {
        let (a, b, c) = bodyChecksums ?? CRC32C.threeParts(UnsafeRawBufferPointer(start: record + headerSize, count: bodyLength))
        pmem_store64(record + partChecksumsOffset, (UInt64(b) << 32 | UInt64(a)).littleEndian)
        pmem_store64(record + partChecksumsOffset + 8, UInt64(c).littleEndian)
        pmem_store64(record + 48, 0)
        pmem_store64(record + 56, 0)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: record, count: checksumOffset))
        pmem_store64(record + 56, (UInt64(crc) << 32).littleEndian)
    }

    /// A valid record's sequence number, entry count and body length; nil if
    /// the lane holds no valid record (idle, killed, or torn by a crash).
    /// Entries are checked by ``LogEntry/decodeBody(_:count:layout:)``.
    static func decode(_ record: UnsafeRawPointer, maxBody: Int) -> (sequence: UInt64, entryCount: Int, bodyLength: Int)? {
        guard let head = decodeHeader(record, maxBody: maxBody) else { return nil }
        let r = LittleEndianReader(record, count: headerSize)
        let (a, b, c) = CRC32C.threeParts(UnsafeRawBufferPointer(start: record + headerSize, count: head.bodyLength))
        guard r.load(UInt32.self, at: partChecksumsOffset) == a, r.load(UInt32.self, at: partChecksumsOffset + 4) == b,
              r.load(UInt32.self, at: partChecksumsOffset + 8) == c else { return nil }
        return head
    }

    /// The header's own checks only (magic, sequence, sizes, reserved bytes,
    /// its checksum), not the body's: what a record claims, before its body
    /// is read. Whether a lane holds a valid record depends only on the
    /// header's line and the `bodyLength` bytes after it.
    static func decodeHeader(_ record: UnsafeRawPointer, maxBody: Int) -> (sequence: UInt64, entryCount: Int, bodyLength: Int)? {
        let r = LittleEndianReader(record, count: headerSize)
        let sequence = r.load(UInt64.self, at: sequenceOffset), length = r.load(UInt64.self, at: bodyLengthOffset)
        let entries = r.load(UInt64.self, at: entryCountOffset)
        guard r.load(UInt64.self, at: 0) == magic, sequence != 0, entries >> 32 == 0, length <= UInt64(maxBody),
              r.isZero((partChecksumsOffset + 12)..<checksumOffset),
              r.checksumMatches(0..<checksumOffset, storedAt: checksumOffset)
        else { return nil }
        return (sequence, Int(entries), Int(length))
    }

    /// Writes one entry head at `at`.
    static func writeEntryHead(_ at: UnsafeMutableRawPointer, kind: UInt32, a: UInt64, b: UInt64) {
        at.storeBytes(of: UInt64(kind).littleEndian, as: UInt64.self)
        (at + 8).storeBytes(of: a.littleEndian, as: UInt64.self)
        (at + 16).storeBytes(of: b.littleEndian, as: UInt64.self)
    }
}

/// One entry of a commit record's body.
enum LogEntry: Equatable {
    /// Write these bytes at this logical offset.
    case data(offset: Int, bytes: [UInt8])
    /// Point this logical chunk at this physical chunk.
    case pageTable(logical: Int, physical: Int)

    var encodedSize: Int {
        switch self {
        case .data(_, let bytes): CommitRecord.entryHeadSize + PoolLayout.alignUp(bytes.count, 8)
        case .pageTable: CommitRecord.entryHeadSize
        }
    }

    /// Appends the entry's encoding to `out` at `offset`; returns the new offset.
    func encode(into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        // The planner sizes the body to the lane; this is the last line of defense.
        precondition(offset >= 0 && encodedSize <= out.count - offset, "log entry past the end of the lane")
        let at = out.baseAddress! + offset
        switch self {
        case .data(let o, let bytes):
            CommitRecord.writeEntryHead(at, kind: 1, a: UInt64(o), b: UInt64(bytes.count))
            bytes.withUnsafeBytes { (at + 24).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            let padding = PoolLayout.alignUp(bytes.count, 8) - bytes.count
            if padding > 0 { (at + 24 + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: padding) }
        case .pageTable(let l, let p):
            CommitRecord.writeEntryHead(at, kind: 2, a: UInt64(l), b: UInt64(p))
        }
        return offset + encodedSize
    }

    /// Decodes a body, checking every entry against the pool's bounds: nil
    /// unless exactly `count` entries consume exactly the body, each with zero
    /// reserved bits and padding, every offset and chunk in range.
    static func decodeBody(_ p: UnsafeRawBufferPointer, count: Int, layout: PoolLayout) -> [LogEntry]? {
        var entries: [LogEntry] = []
        var offset = 0
        let r = LittleEndianReader(p)
        for _ in 0..<count {
            guard p.count - offset >= CommitRecord.entryHeadSize else { return nil }
            let kind = r.load(UInt64.self, at: offset), a = r.load(UInt64.self, at: offset + 8), b = r.load(UInt64.self, at: offset + 16)
            switch kind {
            case 1:
                guard a < UInt64(layout.capacity), b >= 1, b <= UInt64(layout.capacity) - a,
                      PoolLayout.alignUp(Int(b), 8) <= p.count - offset - CommitRecord.entryHeadSize else { return nil }
                let start = offset + CommitRecord.entryHeadSize
                let end = start + Int(b)
                guard r.isZero(end..<(start + PoolLayout.alignUp(Int(b), 8))) else { return nil }
                entries.append(.data(offset: Int(a), bytes: Array(p[start..<end])))
            case 2:
                guard a < UInt64(layout.logicalChunks), b < UInt64(layout.physicalChunks) else { return nil }
                entries.append(.pageTable(logical: Int(a), physical: Int(b)))
            default:
                return nil
            }
            offset += entries.last!.encodedSize
        }
        return offset == p.count ? entries : nil
    }
}
