import PMemSystem
import PMemMapping
import CPMemAtomics

/// One write inside one chunk, through the log: the record holds one data
/// entry (docs/FORMAT.md, step 3), applied after the commit point. With
/// cache-line flushes: the record one flushed range, a fence; the apply, a
/// fence. With an msync per flush: the record into the older slot of the
/// chunk's pair, one sync of the whole file (which also makes earlier
/// commits' applies durable); the apply left to the next sync.
struct LoggedWrite: CommitUpdate {
    let bytes: UnsafeRawBufferPointer
    let offset: Int
    let logical: Int

    /// From this many bytes on, a logged payload is copied into its lane with
    /// non-temporal stores where flushes are cache-line ones (chosen with
    /// pmem-compare; the figures are in docs/FORMAT.md, step 3).
    static let streamedMinimum = 256

    var touchedCount: Int { 1 }
    @inline(__always)
    func touched(_ i: Int) -> Int { logical }
    @inline(__always)
    mutating func reserveChunks(in pool: Pool) throws(PMemError) {}
    @inline(__always)
    func cancelReservation(in pool: Pool) {}
    var requestedBytes: Int { bytes.count }
    var remapCount: Int { 0 }
    @inline(__always)
    func fences(defersApply: Bool) -> Int { defersApply ? 1 : 2 }

    /// The slot's own record dies when this one overwrites it; with deferred
    /// apply, its apply must be durable first. The pair's newer slot stays
    /// valid: if this record is torn, that is the one a crash replays.
    @inline(__always)
    func takeLanes(in pool: Pool) -> (unit: Int, slot: Int) { pool.takeLane(forOneChunk: logical) }

    @inline(__always)
    func killRecords(in pool: Pool, slot: Int) {
        if pool.defersApply { pool.settle(slot) }
    }

    @inline(__always)
    func stage(in pool: Pool, slot: Int) throws(PMemError) -> Int { 0 }

    @inline(__always)
    func writeRecord(in pool: Pool, slot: Int, sequence: UInt64) throws(PMemError) -> Int {
        let record = pool.file.base + pool.layout.laneOffset(slot)
        let body = record + CommitRecord.headerSize
        let data = body + CommitRecord.entryHeadSize
        CommitRecord.writeEntryHead(body, kind: 1, a: UInt64(offset), b: UInt64(bytes.count))
        let padded = PoolLayout.alignUp(bytes.count, 8)
        let length = CommitRecord.entryHeadSize + padded
        if pool.defersApply {
            if padded > bytes.count { (data + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - bytes.count) }
            // A failure leaves this slot torn (its record was settled) and
            // changes nothing else.
            try pool.storeIntoFile(data, bytes.baseAddress!, bytes.count)
            try Pool.simulateCrash(at: .afterLogBody)
            CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: length)
            pool.syncAll(at: .deferredLogCommitSync)
            return CommitRecord.headerSize + length
        }
        let streamed = pool.persistence.flushesLines && bytes.count >= Self.streamedMinimum
        // The payload's bytes in the line it shares with the entry head (the
        // lane starts a line): stored through the cache and flushed with the
        // header, so that line reaches the media once, not also as a
        // non-temporal part-line.
        let sharedLine = min(padded, (64 - (CommitRecord.headerSize + CommitRecord.entryHeadSize) % 64) % 64)
        if streamed, let sums = pool.copyChecksummed(at: .streamedLogPayloadCopy, into: data,
                                                     head: UnsafeRawBufferPointer(start: body, count: CommitRecord.entryHeadSize),
                                                     data: bytes, throughCache: sharedLine) {
            // Large, on cache-line flushes: copied and checksummed in one
            // pass, with non-temporal stores past the entry head's line (the
            // last word zero-padded), so the payload is read once and never
            // read back, and only the header's and the entry head's lines need
            // a flush.
            try Pool.simulateCrash(at: .afterLogBody)
            CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: length, bodyChecksums: sums)
            pool.flush(record, CommitRecord.headerSize + CommitRecord.entryHeadSize + sharedLine, at: .streamedLogHeaderFlush)
        } else if streamed {
            if padded > bytes.count { (data + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - bytes.count) }
            // Large, no one-pass copy on this CPU: libpmem2's flushing copy
            // (non-temporal stores), so the payload is never read back; the
            // checksums come from the caller's bytes (which must not change
            // during the call, as for any write).
            let cached = min(bytes.count, sharedLine) // flushed with the header below
            data.copyMemory(from: bytes.baseAddress!, byteCount: cached)
            if bytes.count > cached {
                pool.copyAndFlush(data + cached, bytes.baseAddress! + cached, bytes.count - cached, at: .copiedLogPayloadCopy)
            }
            try Pool.simulateCrash(at: .afterLogBody)
            let sums = CRC32C.threeParts(head: UnsafeRawBufferPointer(start: body, count: CommitRecord.entryHeadSize),
                                         data: bytes, padding: padded - bytes.count)
            CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: length, bodyChecksums: sums)
            // The header, the entry head and the padding were stored with
            // ordinary stores in lines the copy shares, but a non-temporal
            // store writes only its own bytes (libpmem2 ends some copies with
            // one, flushing nothing), so they are flushed here.
            pool.flush(record, CommitRecord.headerSize + CommitRecord.entryHeadSize + sharedLine, at: .copiedLogHeaderFlush)
            if padded > max(bytes.count, sharedLine) {
                pool.flush(data + bytes.count, padded - bytes.count, at: .copiedLogPaddingFlush)
            }
        } else {
            // Small, or an msync per flush: copied through the cache, the
            // checksums read from there, the whole record one flush.
            if padded > bytes.count { (data + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - bytes.count) }
            data.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            try Pool.simulateCrash(at: .afterLogBody)
            CommitRecord.writeHeader(record, sequence: sequence, entryCount: 1, bodyLength: length)
            pool.flush(record, CommitRecord.headerSize + length, at: .logRecordFlush)
        }
        pool.fence(at: .logCommitFence)
        return CommitRecord.headerSize + length
    }

    @inline(__always)
    func apply(in pool: Pool, slot: Int) throws(PMemError) -> Int {
        if pool.defersApply {
            // Plain stores, durable at the next sync; the record stays valid
            // (and nothing overwrites or kills it) until then.
            try pool.storeIntoFile(pool.fileAddress(ofLogical: offset), bytes.baseAddress!, bytes.count)
            pool.locks.setPendingTicket(slot, pool.locks.nextSyncTicket())
        } else {
            pool.copyAndFlush(pool.fileAddress(ofLogical: offset), bytes.baseAddress!, bytes.count, at: .logApplyCopy)
            pool.fence(at: .logApplyFence)
        }
        return bytes.count
    }

    @inline(__always)
    func remapView(of pool: Pool) throws(PMemError) {}
}
