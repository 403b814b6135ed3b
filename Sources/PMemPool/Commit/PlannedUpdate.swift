import PMemSystem
import PMemMapping

/// Any set of writes, planned (CommitPlan): chunks wholly covered, or too
/// large to log, are written into spare chunks and remapped; the rest is
/// logged. The record holds every page-table and data entry (docs/FORMAT.md,
/// "Update protocol").
struct PlannedUpdate: CommitUpdate {
    let plan: CommitPlan
    private(set) var spares: [Int]
    /// The mapping-reserve slots held for the view's remaps, one per spare.
    private var held: [Int]
    private var entries: [LogEntry] = []
    /// The lanes of records it kills, held until the commit point.
    private var killedLanes: [Int] = []

    init(_ plan: CommitPlan) {
        self.plan = plan
        spares = [Int](repeating: 0, count: plan.remapped.count)
        held = spares
    }

    var touchedCount: Int { plan.touched.count }
    @inline(__always)
    func touched(_ i: Int) -> Int { plan.touched[i] }
    var requestedBytes: Int { plan.requested }
    var remapCount: Int { plan.remapped.count }
    @inline(__always)
    func fences(defersApply: Bool) -> Int { plan.remapped.isEmpty ? 2 : 3 }

    @inline(__always)
    mutating func reserveChunks(in pool: Pool) throws(PMemError) {
        guard !spares.isEmpty else { return }
        let chunks = plan.remapped.map(\.logical), touched = plan.touched
        try spares.withUnsafeMutableBufferPointer { (out) throws(PMemError) in
            try held.withUnsafeMutableBufferPointer { (held) throws(PMemError) in
                try chunks.withUnsafeBufferPointer { (chunks) throws(PMemError) in
                    try pool.reserveChunks(chunks, into: out, holding: held, touchedCount: touched.count) { touched[$0] }
                }
            }
        }
    }

    @inline(__always)
    func cancelReservation(in pool: Pool) {
        guard !spares.isEmpty else { return }
        let chunks = plan.remapped.map(\.logical)
        chunks.withUnsafeBufferPointer { chunks in
            spares.withUnsafeBufferPointer { spares in held.withUnsafeBufferPointer { pool.cancelReservation(chunks, spares, held: $0) } }
        }
    }

    /// The records of the other lanes that were the last of these chunks
    /// die with the commit point. With lanes in pairs, older records die a
    /// sync before newer ones, every apply durable before its record dies:
    /// for each chunk whose last record is the newer of its pair, the pair's
    /// older slot (perhaps the chunk's previous record) in a first wave, the
    /// last records in a second, with the commit.
    /// The lanes (pairs) of the last records of all its chunks, ascending;
    /// the first takes the record, the others are killed. A lane whose
    /// record no longer touches these chunks may still be being overwritten
    /// by its holder: taking it waits for that holder's commit point.
    /// Killing a record whose commit returned is always safe.
    @inline(__always)
    mutating func takeLanes(in pool: Pool) -> (unit: Int, slot: Int) {
        let locks = pool.locks
        var live: [Int] = []
        for l in plan.touched {
            let j = locks.lastLane(l)
            let unit = pool.defersApply && j >= 0 ? j & ~1 : j
            if unit >= 0, !live.contains(unit) { live.append(unit) }
        }
        live.sort()
        for j in live { locks.lockLane(j) }
        let unit = live.first ?? locks.acquireLane()
        killedLanes = Array(live.dropFirst())
        return (unit, pool.defersApply ? pool.olderSlot(unit) : unit)
    }

    @inline(__always)
    mutating func releaseKilledLanes(to locks: ChunkLocks) {
        for j in killedLanes { locks.releaseLane(j) }
        killedLanes = []
    }

    @inline(__always)
    func killRecords(in pool: Pool, slot: Int) {
        if pool.defersApply {
            let waves = pool.killWaves(touching: plan.touched, overwritten: slot)
            if !pool.locks.applyIsDurable(slot) || (waves.first + waves.second).contains(where: { !pool.locks.applyIsDurable($0) }) {
                pool.syncAll(at: .commitSettleSync)
            }
            if !waves.first.isEmpty {
                for j in waves.first { pool.kill(lane: j, at: .commitFirstWaveKillFlush) }
                pool.fence(at: .commitFirstWaveKillFence)
            }
            for j in waves.second { pool.kill(lane: j, at: .commitSecondWaveKillFlush) }
        } else {
            for j in killedLanes { pool.kill(lane: j, at: .commitKillFlush) }
        }
    }

    @inline(__always)
    mutating func stage(in pool: Pool, slot: Int) throws(PMemError) -> Int {
        let chunk = pool.layout.chunkSize
        var bytes = 0
        for (i, remap) in plan.remapped.enumerated() {
            let logical = remap.logical
            let destination = pool.file.base + pool.layout.chunkOffset(spares[i])
            // The bytes the update leaves as they are, from the chunk's current
            // physical copy through the file mapping: the view's pages of a
            // chunk remapped earlier would each fault in first.
            let current = pool.file.base + pool.layout.chunkOffset(pool.pageTable[logical])
            for gap in CommitPlan.uncovered(remap.pieces, chunk: logical, size: chunk) {
                pool.copyAndFlush(destination + gap.lowerBound, current + gap.lowerBound, gap.count, at: .commitRemapKeptBytesCopy)
                bytes += gap.count
            }
            for piece in remap.pieces {
                piece.bytes.withUnsafeBytes { src in
                    pool.copyAndFlush(destination + piece.offset - logical * chunk, src.baseAddress!, src.count, at: .commitRemapWriteCopy)
                }
                bytes += piece.bytes.count
            }
            entries.append(.pageTable(logical: logical, physical: spares[i]))
        }
        // The record's checksum does not cover remapped chunks: their contents
        // must be durable before a record can name them.
        if !plan.remapped.isEmpty { pool.fence(at: .commitRemapDataFence) }
        entries += plan.logEntries
        return bytes
    }

    @inline(__always)
    func writeRecord(in pool: Pool, slot: Int, sequence: UInt64) throws(PMemError) -> Int {
        let record = pool.file.base + pool.layout.laneOffset(slot)
        let body = UnsafeMutableRawBufferPointer(start: record + CommitRecord.headerSize, count: pool.layout.laneSize - CommitRecord.headerSize)
        var length = 0
        for entry in entries { length = entry.encode(into: body, at: length) }
        try Pool.simulateCrash(at: .afterLogBody)
        CommitRecord.writeHeader(record, sequence: sequence, entryCount: entries.count, bodyLength: length)
        pool.flush(record, CommitRecord.headerSize + length, at: .commitRecordFlush)
        pool.fence(at: .commitFence)
        return CommitRecord.headerSize + length
    }

    @inline(__always)
    func apply(in pool: Pool, slot: Int) throws(PMemError) -> Int {
        let applied = try Pool.apply(entries, base: pool.file.base, layout: pool.layout, persistence: pool.persistence, path: pool.path,
                                     dataSite: .commitApplyCopy, pageTableSite: .commitPageTableFlush)
        pool.fence(at: .commitApplyFence)
        return applied
    }

    @inline(__always)
    func remapView(of pool: Pool) throws(PMemError) {
        var replaced: [Int] = []
        for (i, remap) in plan.remapped.enumerated() {
            replaced.append(pool.pageTable[remap.logical])
            pool.pageTable[remap.logical] = spares[i]
        }
        for (i, remap) in plan.remapped.enumerated() { try pool.remapViewChunk(remap.logical, physical: spares[i], heldSlot: held[i]) }
        // The page-table entries naming the new chunks are durable (the
        // apply fence): the replaced chunks can take new contents.
        guard !replaced.isEmpty else { return }
        let chunks = plan.remapped.map(\.logical)
        chunks.withUnsafeBufferPointer { chunks in
            replaced.withUnsafeBufferPointer { old in spares.withUnsafeBufferPointer { pool.placement.settle(chunks, replaced: old, now: $0) } }
        }
    }
}
