import SystemPackage

extension Pool {
    /// Replays every lane whose commit record is valid, then retires it
    /// (docs/FORMAT.md, "Recovery argument"). Idempotent: a crash in here is
    /// recovered by the next open. Returns the number of commits replayed.
    static func recover(_ base: UnsafeMutableRawPointer, layout: PoolLayout, persistence: PersistenceCalls, path: FilePath?) throws(PMemError) -> Int {
        var replayed = 0
        for lane in 0..<layout.laneCount {
            let record = base + layout.laneOffset(lane)
            let header = UnsafeRawBufferPointer(start: record, count: PoolLayout.commitRecordSize)
            guard let commit = CommitRecord.decode(header, maxBody: layout.laneSize - PoolLayout.commitRecordSize) else {
                // Not committed. Remnants of a record torn by a crash must not
                // stay: a later crash could complete them into a valid record.
                if header.contains(where: { $0 != 0 }) { retire(lane: lane, base: base, layout: layout, persistence: persistence) }
                continue
            }
            let body = UnsafeRawBufferPointer(start: record + PoolLayout.commitRecordSize, count: commit.bodyLength)
            guard CRC32C.checksum(body) == commit.bodyCRC,
                  let entries = LogEntry.decodeBody(body, count: commit.entryCount, layout: layout) else {
                // The body was made durable before its record; a valid record
                // over a bad body is damage, not a crash.
                throw PMemError(.poolCorrupt, "lane \(lane) holds a committed record whose log body is damaged",
                                path: path, fileOffset: layout.laneOffset(lane))
            }
            _ = try apply(entries, base: base, layout: layout, persistence: persistence, path: path)
            persistence.drain()
            try simulateCrash(at: .duringRecovery)
            retire(lane: lane, base: base, layout: layout, persistence: persistence)
            replayed += 1
        }
        return replayed
    }

    /// Applies log entries: page-table entries first, then data into the
    /// chunks the page table now names. Flushes; the caller fences.
    /// Returns the data bytes applied.
    static func apply(_ entries: [LogEntry], base: UnsafeMutableRawPointer, layout: PoolLayout, persistence: PersistenceCalls, path: FilePath?) throws(PMemError) -> Int {
        // Store every entry, then flush each run of neighbouring slots once:
        // remapped chunks are often consecutive, and on page granularity each
        // flush is an msync of the page.
        var run: Range<Int>? = nil
        for case .pageTable(let logical, let physical) in entries {
            let slot = base + PoolLayout.pageTableOffset + 8 * logical
            slot.storeBytes(of: PageTableEntry.encode(logical: logical, physical: physical).littleEndian, as: UInt64.self)
            if let r = run, r.upperBound == logical {
                run = r.lowerBound..<(logical + 1)
            } else {
                if let r = run { persistence.flush(base + PoolLayout.pageTableOffset + 8 * r.lowerBound, 8 * r.count) }
                run = logical..<(logical + 1)
            }
        }
        if let r = run { persistence.flush(base + PoolLayout.pageTableOffset + 8 * r.lowerBound, 8 * r.count) }
        var applied = 0
        for case .data(let offset, let bytes) in entries {
            var done = 0
            while done < bytes.count {
                let logical = (offset + done) / layout.chunkSize
                let inChunk = (offset + done) % layout.chunkSize
                let n = min(bytes.count - done, layout.chunkSize - inChunk)
                let word = UInt64(littleEndian: (base + PoolLayout.pageTableOffset + 8 * logical).load(as: UInt64.self))
                guard let physical = PageTableEntry.decode(word, logical: logical), physical < layout.physicalChunks else {
                    throw PMemError(.poolCorrupt, "page-table entry \(logical) is damaged", path: path,
                                    fileOffset: PoolLayout.pageTableOffset + 8 * logical)
                }
                let destination = base + layout.chunkOffset(physical) + inChunk
                bytes.withUnsafeBytes { src in persistence.copyAndFlush(destination, src.baseAddress! + done, n) }
                done += n
            }
            applied += bytes.count
        }
        return applied
    }

    /// Marks a lane idle: zero the whole commit record, flush, fence.
    ///
    /// Zeroing only the magic is not enough: a crash while the next record is
    /// being written could mix the new magic with the old record's other
    /// words and revive the old record, whose checksum still matches (the
    /// crash model found exactly this). With every word zeroed, no mix of
    /// old and new words passes the checksum.
    static func retire(lane: Int, base: UnsafeMutableRawPointer, layout: PoolLayout, persistence: PersistenceCalls) {
        let record = base + layout.laneOffset(lane)
        for word in stride(from: 0, to: PoolLayout.commitRecordSize, by: 8) {
            (record + word).storeBytes(of: UInt64(0), as: UInt64.self)
        }
        persistence.persist(record, PoolLayout.commitRecordSize)
    }
}
