public import PMemSystem
import PMemMapping
import PMemSealing
extension Pool {
    /// Verifies every piece of the pool's metadata on the media against what
    /// the open found: the header (checksum and geometry), each page-table
    /// entry (checksum, range, no chunk named twice, equal to the view's
    /// table), and every lane: each holds no valid record, or a valid record
    /// whose every entry the pool already holds, but where a later valid
    /// record overrides it (so that replaying them all in sequence order
    /// after a crash would change nothing). Throws ``/PMemSystem/PMemError/Code/poolCorrupt``
    /// with the file offset of the first damage.
    ///
    /// Opening a pool already recovers it and checks the header and page
    /// table; `check` repeats the checks on the media as it is now (for
    /// `pmemctl pool check` and for code that suspects stray stores). Call
    /// it while no commit runs.
    public func check() throws(PMemError) -> PoolCheckReport {
        if locks.isClosed { throw needsRecoveryError }
        let base = file.base
        let header = UnsafeRawBufferPointer(start: base, count: PoolLayout.headerSize)
        guard try PoolLayout.decode(header, fileSize: file.count, path: path) == layout else {
            throw PMemError(.poolCorrupt, "the pool header changed while the pool was open", path: path, fileOffset: 0)
        }
        let table = try Self.readPageTable(base, layout: layout, path: path)
        for l in 0..<layout.logicalChunks where table[l] != pageTable[l] {
            throw PMemError(.poolCorrupt, "page-table entry \(l) on the media differs from the pool's table",
                            path: path, fileOffset: PoolLayout.pageTableEntryOffset(l))
        }
        // Valid records, in the order a replay would apply them: of two
        // touching the same bytes, only the later one's must hold (on the
        // msync path a lane pair may hold two valid records of one chunk).
        var valid: [(lane: Int, sequence: UInt64, entries: [LogEntry])] = []
        for lane in 0..<layout.laneCount {
            let record = base + layout.laneOffset(lane)
            guard let head = CommitRecord.decode(record, maxBody: layout.laneSize - CommitRecord.headerSize),
                  let entries = LogEntry.decodeBody(UnsafeRawBufferPointer(start: record + CommitRecord.headerSize, count: head.bodyLength),
                                                    count: head.entryCount, layout: layout) else { continue }
            valid.append((lane, head.sequence, entries))
        }
        valid.sort { $0.sequence < $1.sequence }
        for (index, record) in valid.enumerated() {
            let later = valid[(index + 1)...].flatMap(\.entries)
            func overridden(byte o: Int) -> Bool {
                later.contains { if case .data(let offset, let bytes) = $0 { offset <= o && o < offset + bytes.count } else { false } }
            }
            func overridden(chunk logical: Int) -> Bool {
                later.contains { if case .pageTable(let l, _) = $0 { l == logical } else { false } }
            }
            for entry in record.entries {
                let holds: Bool
                switch entry {
                case .pageTable(let logical, let physical): holds = table[logical] == physical || overridden(chunk: logical)
                case .data(let offset, let bytes):
                    holds = bytes.indices.allSatisfy { i in
                        let o = offset + i
                        return (base + layout.chunkOffset(table[o / layout.chunkSize]) + o % layout.chunkSize).load(as: UInt8.self) == bytes[i]
                            || overridden(byte: o)
                    }
                }
                guard holds else {
                    throw PMemError(.poolCorrupt, "lane \(record.lane) holds a valid record (sequence \(record.sequence)) that the pool's contents disagree with: a crash now would replay it over them (stores made with Pool.storeUncommitted and not yet persisted do this too)",
                                    path: path, fileOffset: layout.laneOffset(record.lane))
                }
            }
        }
        return PoolCheckReport(logicalChunks: layout.logicalChunks, physicalChunks: layout.physicalChunks,
                               lanes: layout.laneCount, recoveredCommits: recoveredCommits)
    }
}

/// What ``Pool/check()`` verified.
public struct PoolCheckReport: Sendable, Hashable, CustomStringConvertible {
    /// Page-table entries verified (one per logical chunk).
    public var logicalChunks: Int
    /// Chunks in the file, logical and spare.
    public var physicalChunks: Int
    /// Lanes verified (empty, or holding a record the pool already holds).
    public var lanes: Int
    /// Commit records the open replayed before the check (see ``Pool/recoveredCommits``).
    public var recoveredCommits: Int
    /// Valid commit records found and left in their lanes: by a read-only
    /// check (``PoolReader/check()``), which replays nothing.
    public var validRecordsLeft: Int = 0

    /// One line for people.
    public var description: String {
        let replayed = validRecordsLeft > 0
            ? "\(validRecordsLeft) valid commit record\(validRecordsLeft == 1 ? "" : "s") left unreplayed (read-only)"
            : "\(recoveredCommits) commit record\(recoveredCommits == 1 ? "" : "s") replayed at open"
        return "clean: header, \(logicalChunks) page-table entries over \(physicalChunks) chunks, \(lanes) lanes consistent; \(replayed)"
    }
}
