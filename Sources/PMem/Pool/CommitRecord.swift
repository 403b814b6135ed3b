/// The commit record at the start of a lane, and the log entries of its
/// body (docs/FORMAT.md, "Lanes").
struct CommitRecord: Equatable {
    static let magic: UInt64 = UInt64(littleEndian: Array("PMCOMMIT".utf8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    static let entryHeadSize = 24

    var sequence: UInt64
    var entryCount: Int
    var bodyLength: Int
    var bodyCRC: UInt32

    func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: PoolLayout.commitRecordSize)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: UInt32(entryCount).littleEndian, toByteOffset: 16, as: UInt32.self)
            p.storeBytes(of: UInt64(bodyLength).littleEndian, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: bodyCRC.littleEndian, toByteOffset: 32, as: UInt32.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<60]))
            p.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
        }
        return b
    }

    /// The record at `lane`, if it is live and intact; nil if the lane is
    /// idle or its record is torn (both mean: nothing committed there).
    static func decode(_ p: UnsafeRawBufferPointer, maxBody: Int) -> CommitRecord? {
        let u32 = { (o: Int) in UInt32(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        let u64 = { (o: Int) in UInt64(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        guard u64(0) == magic,
              CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<60])) == u32(60),
              u64(24) <= UInt64(maxBody) else { return nil }
        return CommitRecord(sequence: u64(8), entryCount: Int(u32(16)), bodyLength: Int(u64(24)), bodyCRC: u32(32))
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
        let (kind, a, b): (UInt32, UInt64, UInt64)
        switch self {
        case .data(let o, let bytes): (kind, a, b) = (1, UInt64(o), UInt64(bytes.count))
        case .pageTable(let l, let p): (kind, a, b) = (2, UInt64(l), UInt64(p))
        }
        out.storeBytes(of: kind.littleEndian, toByteOffset: offset, as: UInt32.self)
        out.storeBytes(of: UInt32(0), toByteOffset: offset + 4, as: UInt32.self)
        out.storeBytes(of: a.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
        out.storeBytes(of: b.littleEndian, toByteOffset: offset + 16, as: UInt64.self)
        if case .data(_, let bytes) = self {
            bytes.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(rebasing: out[(offset + 24)...]).copyMemory(from: src)
            }
        }
        return offset + encodedSize
    }

    /// Decodes a body, checking every entry against the pool's bounds; nil
    /// if anything is out of range (the record is then corrupt).
    static func decodeBody(_ p: UnsafeRawBufferPointer, count: Int, layout: PoolLayout) -> [LogEntry]? {
        var entries: [LogEntry] = []
        var offset = 0
        for _ in 0..<count {
            guard p.count - offset >= CommitRecord.entryHeadSize else { return nil }
            let kind = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let a = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            let b = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
            switch kind {
            case 1:
                guard a < UInt64(layout.capacity), b <= UInt64(layout.capacity) - a,
                      b <= UInt64(p.count - offset - CommitRecord.entryHeadSize) else { return nil }
                let start = offset + CommitRecord.entryHeadSize
                entries.append(.data(offset: Int(a), bytes: Array(p[start..<(start + Int(b))])))
            case 2:
                guard a < UInt64(layout.logicalChunks), b < UInt64(layout.physicalChunks) else { return nil }
                entries.append(.pageTable(logical: Int(a), physical: Int(b)))
            default:
                return nil
            }
            offset += entries.last!.encodedSize
        }
        return entries
    }
}
