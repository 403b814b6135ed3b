import PMemSystem
import PMemMapping
import CPMemAtomics

/// One write inside one chunk, by remapping (docs/FORMAT.md, step 2): the
/// chunk's new contents (the bytes the write leaves, copied from the chunk's
/// current physical copy, and the write) go into a spare chunk; the record
/// holds one page-table entry, applied after the commit point. With no
/// bytes, it homes the chunk (Pool+Homing.swift).
struct RemappedWrite: CommitUpdate {
    let bytes: UnsafeRawBufferPointer
    let offset: Int
    let logical: Int
    private(set) var spare = 0
    /// The mapping-reserve slot held for the view's remap.
    private var held = 0

    init(_ bytes: UnsafeRawBufferPointer, at offset: Int, logical: Int) {
        self.bytes = bytes
        self.offset = offset
        self.logical = logical
    }

    var touchedCount: Int { 1 }
    @inline(__always)
    func touched(_ i: Int) -> Int { logical }
    var requestedBytes: Int { bytes.count }
    var isHoming: Bool { bytes.isEmpty }
    var remapCount: Int { 1 }
    @inline(__always)
    func fences(defersApply: Bool) -> Int { defersApply ? 2 : 3 }

    @inline(__always)
    mutating func reserveChunks(in pool: Pool) throws(PMemError) {
        let logical = logical
        try withUnsafePointer(to: logical) { (chunks) throws(PMemError) in
            try withUnsafeMutablePointer(to: &spare) { (out) throws(PMemError) in
                try withUnsafeMutablePointer(to: &held) { (held) throws(PMemError) in
                    try pool.reserveChunks(UnsafeBufferPointer(start: chunks, count: 1), into: UnsafeMutableBufferPointer(start: out, count: 1),
                                           holding: UnsafeMutableBufferPointer(start: held, count: 1), touchedCount: 1) { _ in logical }
                }
            }
        }
    }

    @inline(__always)
    func cancelReservation(in pool: Pool) {
        withUnsafePointer(to: logical) { chunks in
            withUnsafePointer(to: spare) { spare in
                withUnsafePointer(to: held) {
                    pool.cancelReservation(UnsafeBufferPointer(start: chunks, count: 1), UnsafeBufferPointer(start: spare, count: 1),
                                           held: UnsafeBufferPointer(start: $0, count: 1))
                }
            }
        }
    }

    /// The slot's own record dies when this one overwrites it. With lanes in
    /// pairs, the newer slot's record too if it is the chunk's last (a data
    /// record a replay would write through the new page-table entry, over
    /// this write): in step 2, once both slots' applies are durable.
    @inline(__always)
    func takeLanes(in pool: Pool) -> (unit: Int, slot: Int) { pool.takeLane(forOneChunk: logical) }

    @inline(__always)
    func killRecords(in pool: Pool, slot: Int) {}

    @inline(__always)
    mutating func stage(in pool: Pool, slot: Int) throws(PMemError) -> Int {
        let chunk = pool.layout.chunkSize
        let start = offset - logical * chunk, end = start + bytes.count
        let destination = pool.file.base + pool.layout.chunkOffset(spare)
        let current = pool.file.base + pool.layout.chunkOffset(pool.pageTable[logical])
        if pool.defersApply {
            let other = slot ^ 1
            let killsOther = pool.holdsLastRecord(other, of: logical)
            if start > 0 { try pool.storeIntoFile(destination, current, start) }
            if end < chunk { try pool.storeIntoFile(destination + end, current + end, chunk - end) }
            if !bytes.isEmpty { try pool.storeIntoFile(destination + start, bytes.baseAddress!, bytes.count) }
            // The chunk's contents before a record can name it; and the
            // applies of both slots' records before one is overwritten and
            // one killed.
            pool.syncAll(at: .pairedRemapDataSync)
            if killsOther {
                // The older slot (perhaps the chunk's previous record) dies in
                // a sync of its own, then the newer one with the commit.
                pool.killWord(slot)
                pool.syncAll(at: .pairedRemapKillSync)
                pool.killWord(other)
            }
        } else {
            if start > 0 { pool.copyAndFlush(destination, current, start, at: .remapBytesBeforeCopy) }
            if end < chunk { pool.copyAndFlush(destination + end, current + end, chunk - end, at: .remapBytesAfterCopy) }
            if !bytes.isEmpty { pool.copyAndFlush(destination + start, bytes.baseAddress!, bytes.count, at: .remapWriteCopy) }
            // The record's checksum does not cover the chunk: its contents
            // must be durable before a record can name it.
            pool.fence(at: .remapDataFence)
        }
        return chunk
    }

    @inline(__always)
    func writeRecord(in pool: Pool, slot: Int, sequence: UInt64) throws(PMemError) -> Int {
        let record = pool.file.base + pool.layout.laneOffset(slot)
        CommitRecord.writeEntryHead(record + CommitRecord.headerSize, kind: 2, a: UInt64(logical), b: UInt64(spare))
        try Pool.simulateCrash(at: .afterLogBody)
        CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: CommitRecord.entryHeadSize)
        if pool.defersApply {
            pool.syncAll(at: .pairedRemapCommitSync)
        } else {
            pool.flush(record, CommitRecord.headerSize + CommitRecord.entryHeadSize, at: .remapRecordFlush)
            pool.fence(at: .remapCommitFence)
        }
        return CommitRecord.headerSize + CommitRecord.entryHeadSize
    }

    @inline(__always)
    func apply(in pool: Pool, slot: Int) throws(PMemError) -> Int {
        let entry = pool.file.base + PoolLayout.pageTableEntryOffset(logical)
        pmem_store64(entry, PageTableEntry.encode(logical: logical, physical: spare).littleEndian)
        if pool.defersApply {
            // Deferred like a logged write's apply (docs/FORMAT.md, "Deferred
            // apply"): durable at the next sync, its record valid (nothing
            // overwrites or kills it unsynced) until then.
            pool.locks.setPendingTicket(slot, pool.locks.nextSyncTicket())
        } else {
            pool.flush(entry, 8, at: .remapPageTableFlush)
            pool.fence(at: .remapApplyFence)
        }
        return 8
    }

    @inline(__always)
    func remapView(of pool: Pool) throws(PMemError) {
        let replaced = pool.pageTable[logical]
        pool.pageTable[logical] = spare
        try pool.remapViewChunk(logical, physical: spare, heldSlot: held)
        // The page-table entry naming the new chunk is durable: the
        // replaced chunk can take new contents.
        withUnsafePointer(to: logical) { chunks in
            withUnsafePointer(to: replaced) { old in
                withUnsafePointer(to: spare) { now in
                    pool.placement.settle(UnsafeBufferPointer(start: chunks, count: 1), replaced: UnsafeBufferPointer(start: old, count: 1),
                                          now: UnsafeBufferPointer(start: now, count: 1))
                }
            }
        }
    }
}
