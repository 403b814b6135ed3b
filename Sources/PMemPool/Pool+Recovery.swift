import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics
import SystemPackage

extension Pool {
    /// Replays every valid record in ascending sequence order, then clears
    /// every lane (docs/FORMAT.md, "Recovery argument"). Idempotent: a crash
    /// in here is recovered by the next open. Returns the number of records
    /// replayed.
    static func recover(_ base: UnsafeMutableRawPointer, layout: PoolLayout, persistence: PersistenceCalls, path: FilePath?) throws(PMemError) -> Int {
        let maxBody = layout.laneSize - CommitRecord.headerSize
        var valid: [(sequence: UInt64, lane: Int, entries: [LogEntry])] = []
        var dirty: [Int] = []
        for lane in 0..<layout.laneCount {
            let record = base + layout.laneOffset(lane)
            let header = UnsafeRawBufferPointer(start: record, count: CommitRecord.headerSize)
            if header.contains(where: { $0 != 0 }) { dirty.append(lane) }
            // Not valid: idle, killed, or torn by a crash before its fence
            // (the checksum covers header and body), all meaning "nothing to do".
            guard let head = CommitRecord.decode(record, maxBody: maxBody) else { continue }
            // A checksum that matches over entries that do not make sense
            // cannot come from a crash (a torn record fails the checksum):
            // it is damage, or forgery, and is reported, never replayed.
            guard let entries = LogEntry.decodeBody(UnsafeRawBufferPointer(start: record + CommitRecord.headerSize, count: head.bodyLength),
                                                    count: head.entryCount, layout: layout) else {
                throw PMemError(.poolCorrupt, "lane \(lane) holds a record whose checksum matches but whose entries are out of range or malformed",
                                path: path, fileOffset: layout.laneOffset(lane))
            }
            valid.append((head.sequence, lane, entries))
        }
        // Older first: of two valid records touching one chunk, the later wins (I3).
        valid.sort { $0.sequence < $1.sequence }
        for record in valid { _ = try apply(record.entries, base: base, layout: layout, persistence: persistence, path: path) }
        if !valid.isEmpty, !drops(.recoveryApplyFence) { persistence.drain() }
        try simulateCrash(at: .duringRecovery)
        // Every record replayed is durable: now none may be replayed again,
        // since writes after this open will not know about them. Valid
        // records are cleared oldest first, each durably before the next: a
        // crash in between must never leave an older record valid without
        // the newer ones it ran before (a replay of it alone would undo them).
        func clear(_ lane: Int) {
            let record = base + layout.laneOffset(lane)
            for word in stride(from: 0, to: CommitRecord.headerSize, by: 8) { pmem_store64(record + word, 0) }
            if !drops(.recoveryClearFlush) { persistence.flush(record, CommitRecord.headerSize) }
        }
        for record in valid {
            clear(record.lane)
            if !drops(.recoveryClearFence) { persistence.drain() }
        }
        let torn = dirty.filter { lane in !valid.contains { $0.lane == lane } }
        for lane in torn { clear(lane) }
        if !torn.isEmpty, !drops(.recoveryClearFence) { persistence.drain() }
        return valid.count
    }

    /// Applies log entries: page-table entries first, then data into the
    /// chunks the page table now names. Flushes; the caller fences.
    /// Returns the data bytes applied.
    static func apply(_ entries: [LogEntry], base: UnsafeMutableRawPointer, layout: PoolLayout, persistence: PersistenceCalls, path: FilePath?) throws(PMemError) -> Int {
        // Store every entry, then flush each run of neighbouring slots once:
        // remapped chunks are often consecutive, and on page granularity each
        // flush is an msync of the page.
        var run: Range<Int>? = nil
        let dropTable = drops(.pageTableFlush)
        for case .pageTable(let logical, let physical) in entries {
            let slot = base + PoolLayout.pageTableEntryOffset(logical)
            pmem_store64(slot, PageTableEntry.encode(logical: logical, physical: physical).littleEndian)
            if let r = run, r.upperBound == logical {
                run = r.lowerBound..<(logical + 1)
            } else {
                if let r = run, !dropTable { persistence.flush(base + PoolLayout.pageTableEntryOffset(r.lowerBound), 8 * r.count) }
                run = logical..<(logical + 1)
            }
        }
        if let r = run, !dropTable { persistence.flush(base + PoolLayout.pageTableEntryOffset(r.lowerBound), 8 * r.count) }
        var applied = 0
        let dropData = drops(.applyFlush)
        for case .data(let offset, let bytes) in entries {
            var done = 0
            while done < bytes.count {
                let logical = (offset + done) / layout.chunkSize
                let inChunk = (offset + done) % layout.chunkSize
                let n = min(bytes.count - done, layout.chunkSize - inChunk)
                let word = UInt64(littleEndian: pmem_load64(base + PoolLayout.pageTableEntryOffset(logical)))
                guard let physical = PageTableEntry.decode(word, logical: logical), physical < layout.physicalChunks else {
                    throw PMemError(.poolCorrupt, "page-table entry \(logical) is damaged", path: path,
                                    fileOffset: PoolLayout.pageTableEntryOffset(logical))
                }
                let destination = base + layout.chunkOffset(physical) + inChunk
                bytes.withUnsafeBytes { src in
                    if dropData {
                        destination.copyMemory(from: src.baseAddress! + done, byteCount: n)
                    } else {
                        persistence.copyAndFlush(destination, src.baseAddress! + done, n)
                    }
                }
                done += n
            }
            applied += bytes.count
        }
        return applied
    }
}
