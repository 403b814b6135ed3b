extension Pool {
    /// Verifies every piece of the pool's metadata on the media against what
    /// the open found: the header (checksum and geometry), each page-table
    /// entry (checksum, range, no chunk named twice, equal to the view's
    /// table), and every lane empty. Throws ``PMemError/Code/poolCorrupt``
    /// with the file offset of the first damage.
    ///
    /// Opening a pool already recovers it and checks the header and page
    /// table; `check` repeats the checks on the media as it is now (for
    /// `pmemctl pool check` and for code that suspects stray stores). Call
    /// it while no commit runs.
    public func check() throws(PMemError) -> PoolCheckReport {
        let base = file.base
        let header = UnsafeRawBufferPointer(start: base, count: PoolLayout.headerSize)
        guard try PoolLayout.decode(header, fileSize: file.count, path: path) == layout else {
            throw PMemError(.poolCorrupt, "the pool header changed while the pool was open", path: path, fileOffset: 0)
        }
        let table = try Self.readPageTable(base, layout: layout, path: path)
        for l in 0..<layout.logicalChunks where table[l] != pageTable[l] {
            throw PMemError(.poolCorrupt, "page-table entry \(l) on the media differs from the pool's table",
                            path: path, fileOffset: PoolLayout.pageTableOffset + 8 * l)
        }
        for lane in 0..<layout.laneCount {
            let record = UnsafeRawBufferPointer(start: base + layout.laneOffset(lane), count: PoolLayout.commitRecordSize)
            if record.contains(where: { $0 != 0 }) {
                throw PMemError(.poolCorrupt, "lane \(lane) holds a commit record although no commit is running",
                                path: path, fileOffset: layout.laneOffset(lane))
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
    /// Lanes verified empty.
    public var lanes: Int
    /// Committed updates the open completed before the check.
    public var recoveredCommits: Int

    /// One line for people.
    public var description: String {
        "clean: header, \(logicalChunks) page-table entries over \(physicalChunks) chunks, \(lanes) lanes empty; \(recoveredCommits) unfinished commit\(recoveredCommits == 1 ? "" : "s") completed at open"
    }
}
