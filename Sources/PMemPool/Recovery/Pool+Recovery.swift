import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics
import SystemPackage

extension Pool {
    /// Replays every valid record in ascending sequence order and clears
    /// every lane (docs/FORMAT.md, "Recovery argument"). Recovery may trust
    /// only the media: after a process dies, its stores are still in the CPU
    /// cache (DAX) or the page cache (msync path), visible here but not
    /// durable. So it first makes durable everything it will read and act
    /// on (every lane's header line, the body a valid-looking header claims,
    /// the page table), and then keeps its own order, record by record:
    /// apply, fence, clear, fence. A crash anywhere in here, a process death
    /// or a power loss, leaves the media with a suffix of the records valid
    /// over the effects of the ones before them, which the next open
    /// recovers the same way. `poisoned` lists the file's bad ranges (empty
    /// when not tracked): a record whose data would land on one is refused
    /// with ``/PMemSystem/PMemError/Code/mediaError`` before anything is
    /// written. Returns the number of records replayed.
    static func recover(_ base: UnsafeMutableRawPointer, layout: PoolLayout, persistence: PersistenceCalls,
                        poisoned: [BadBlock] = [], path: FilePath?) throws(PMemError) -> Int {
        let maxBody = layout.laneSize - CommitRecord.headerSize
        makeDurable(readBy: base, layout: layout, persistence: persistence)
        var valid: [(sequence: UInt64, lane: Int, entries: [LogEntry])] = []
        var dirty: [Int] = []
        for lane in 0..<layout.laneCount {
            let record = base + layout.laneOffset(lane)
            let header = UnsafeRawBufferPointer(start: record, count: CommitRecord.headerSize)
            if header.contains(where: { $0 != 0 }) { dirty.append(lane) }
            // Not valid: idle, killed, or torn by a crash before its fence
            // (the checksum covers header and body), all meaning "nothing to do".
            guard let head = CommitRecord.decode(record, maxBody: maxBody) else { continue }
            // A checksum that matches over entries that do not decode is
            // reported, never replayed: damage, forgery, or (with the
            // checksums' small chance, docs/FORMAT.md) a torn record.
            guard let entries = LogEntry.decodeBody(UnsafeRawBufferPointer(start: record + CommitRecord.headerSize, count: head.bodyLength),
                                                    count: head.entryCount, layout: layout) else {
                throw PMemError(.poolCorrupt, "lane \(lane) holds a record whose checksum matches but whose entries are out of range or malformed",
                                path: path, fileOffset: layout.laneOffset(lane))
            }
            valid.append((head.sequence, lane, entries))
        }
        // Older first: of two valid records touching one chunk, the later wins (I3).
        valid.sort { $0.sequence < $1.sequence }
        // Every record, before recovery writes anything, is checked against
        // the bad blocks its data would land on.
        if !poisoned.isEmpty {
            try refusePoisonedDestinations(valid.map(\.entries), base: base, layout: layout, poisoned: poisoned, path: path)
        }
        // Before recovery's first store and after its last: a read-only
        // opener tells this recovery's zeroed headers (and the records
        // numbered from 1 again after it) from ones it saw before
        // (docs/FORMAT.md, "Open generation").
        let writes = !valid.isEmpty || !dirty.isEmpty
        func nextGeneration() {
            let generation = base + PoolLayout.openGenerationOffset
            pmem_release_fence()
            pmem_store64(generation, (UInt64(littleEndian: pmem_load64(generation)) &+ 1).littleEndian)
            pmem_release_fence()
        }
        if writes { nextGeneration() }
        defer { if writes { nextGeneration() } }
        func clear(_ lane: Int) {
            let record = base + layout.laneOffset(lane)
            for word in stride(from: 0, to: CommitRecord.headerSize, by: 8) { pmem_store64(record + word, 0) }
            if !drops(.recoveryClearFlush) { persistence.flush(record, CommitRecord.headerSize) }
        }
        // One record at a time: its effects durable before it is cleared,
        // and its clear durable before the next record's effects are stored.
        // So a record is never replayed over the effects of a later one (a
        // page-table entry a later record set would redirect its data), and
        // a crash leaves a suffix of the records valid.
        for (i, record) in valid.enumerated() {
            _ = try apply(record.entries, base: base, layout: layout, persistence: persistence, path: path,
                          dataSite: .recoveryApplyCopy, pageTableSite: .recoveryPageTableFlush)
            if !drops(.recoveryApplyFence) { persistence.drain() }
            if i == 0 { try simulateCrash(at: .duringRecovery) }
            clear(record.lane)
            if !drops(.recoveryClearFence) { persistence.drain() }
        }
        // Torn remnants and killed records last: not records, but their
        // headers are zeroed so that no mix with a later record's words can
        // bring one back (sequence numbers restart at 1 after an open).
        let torn = dirty.filter { lane in !valid.contains { $0.lane == lane } }
        for lane in torn { clear(lane) }
        if !torn.isEmpty, !drops(.recoveryRemnantClearFence) { persistence.drain() }
        return valid.count
    }

    /// Flushes and fences what recovery reads: each lane's header line and,
    /// where the header passes its own checks, the body it claims; and the
    /// page table. Whether a lane holds a valid record depends on those
    /// bytes only, so after this the media and the cache agree on every
    /// record recovery will replay or clear. Where a flush is an `msync`,
    /// the whole file instead, in one call: it writes back only the dirty
    /// pages, so it costs nothing when nothing is dirty, and a dead
    /// process's unfinished stores (an in-place word, say) are then durable
    /// before this open shows them. With cache-line flushes that would mean
    /// a flush of every line of the pool; there, such a store may be seen
    /// after the open and still be lost to a later power failure
    /// (docs/FORMAT.md, "Recovery argument").
    static func makeDurable(readBy base: UnsafeMutableRawPointer, layout: PoolLayout, persistence: PersistenceCalls) {
        let maxBody = layout.laneSize - CommitRecord.headerSize
        if persistence.flushesLines {
            for lane in 0..<layout.laneCount {
                let record = base + layout.laneOffset(lane)
                let claimed = CommitRecord.decodeHeader(record, maxBody: maxBody)?.bodyLength ?? 0
                if !drops(.recoveryLaneReadFlush) { persistence.flush(record, CommitRecord.headerSize + claimed) }
            }
            if !drops(.recoveryPageTableReadFlush) { persistence.flush(base + PoolLayout.pageTableOffset, 8 * layout.logicalChunks) }
        } else {
            if !drops(.recoveryFileReadSync) { persistence.flush(base, layout.fileSize) }
        }
        if !drops(.recoveryReadFence) { persistence.drain() }
    }

    /// Throws ``/PMemSystem/PMemError/Code/mediaError`` naming the first bad
    /// range a record's data would be written to (through the page table as
    /// the records before it leave it). Reads no data chunk.
    static func refusePoisonedDestinations(_ records: [[LogEntry]], base: UnsafeRawPointer, layout: PoolLayout,
                                           poisoned: [BadBlock], path: FilePath?) throws(PMemError) {
        var table: [Int: Int] = [:]
        for entries in records {
            for case .pageTable(let logical, let physical) in entries { table[logical] = physical }
            for case .data(let offset, let bytes) in entries {
                try layout.forEachPiece(at: offset, count: bytes.count) { logical, inChunk, done, n throws(PMemError) in
                    let word = UInt64(littleEndian: (base + PoolLayout.pageTableEntryOffset(logical)).load(as: UInt64.self))
                    guard let physical = table[logical] ?? PageTableEntry.decode(word, logical: logical), physical < layout.physicalChunks else { return }
                    let start = layout.chunkOffset(physical) + inChunk
                    if let bad = PoolMedia.overlaps(poisoned, start..<(start + n)).first {
                        throw PMemError(.mediaError, "recovery would write a committed record's bytes (logical \(offset + done)..<\(offset + done + n)) over bad blocks at file bytes \(bad.lowerBound)..<\(bad.upperBound); the pool cannot be recovered on this media (copy what can be read, or repair the blocks)",
                                        path: path, fileOffset: bad.lowerBound)
                    }
                }
            }
        }
    }

    /// Applies log entries: page-table entries first, then data into the
    /// chunks the page table now names. Flushes; the caller fences.
    /// Returns the data bytes applied.
    /// `dataSite` and `pageTableSite` name its flushes for a test that
    /// leaves them out.
    static func apply(_ entries: [LogEntry], base: UnsafeMutableRawPointer, layout: PoolLayout, persistence: PersistenceCalls, path: FilePath?,
                      dataSite: PersistenceSite, pageTableSite: PersistenceSite) throws(PMemError) -> Int {
        // Store every entry, then flush each run of neighbouring slots once:
        // remapped chunks are often consecutive, and on page granularity each
        // flush is an msync of the page.
        var run: Range<Int>? = nil
        func flushRun(_ r: Range<Int>) {
            if !drops(pageTableSite) { persistence.flush(base + PoolLayout.pageTableEntryOffset(r.lowerBound), 8 * r.count) }
        }
        for case .pageTable(let logical, let physical) in entries {
            let slot = base + PoolLayout.pageTableEntryOffset(logical)
            pmem_store64(slot, PageTableEntry.encode(logical: logical, physical: physical).littleEndian)
            if let r = run, r.upperBound == logical {
                run = r.lowerBound..<(logical + 1)
            } else {
                if let r = run { flushRun(r) }
                run = logical..<(logical + 1)
            }
        }
        if let r = run { flushRun(r) }
        var applied = 0
        let dropData = drops(dataSite)
        for case .data(let offset, let bytes) in entries {
            try layout.forEachPiece(at: offset, count: bytes.count) { logical, inChunk, done, n throws(PMemError) in
                let word = UInt64(littleEndian: pmem_load64(base + PoolLayout.pageTableEntryOffset(logical)))
                guard let physical = PageTableEntry.decode(word, logical: logical), physical < layout.physicalChunks else {
                    throw PMemError(.poolCorrupt, "page-table entry \(logical) is damaged", path: path,
                                    fileOffset: PoolLayout.pageTableEntryOffset(logical))
                }
                let destination = base + layout.chunkOffset(physical) + inChunk
                bytes.withUnsafeBytes { src in
                    if dropData { destination.copyMemory(from: src.baseAddress! + done, byteCount: n) } else { persistence.copyAndFlush(destination, src.baseAddress! + done, n) }
                }
            }
            applied += bytes.count
        }
        return applied
    }
}
