public import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics

extension Pool {
    /// Writes `bytes` at logical `offset`, failure-atomically, durable on
    /// return (O_ATOMIC | O_DSYNC): after a crash either all of them are in
    /// the pool or none.
    ///
    /// - Throws: ``/PMemSystem/PMemError/Code/outOfBounds`` past the capacity,
    ///   ``/PMemSystem/PMemError/Code/updateTooLarge`` beyond ``maxAtomicWrite``; both
    ///   before anything changes.
    public func write(_ bytes: [UInt8], at offset: Int) throws(PMemError) {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(PMemError) in try write(buffer, at: offset) }
        }
        try result.get()
    }

    /// Writes the bytes of `buffer` at logical `offset`, failure-atomically,
    /// durable on return, without copying them into an array first.
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(PMemError) {
        try checkRange(offset, buffer.count)
        guard !buffer.isEmpty else { return }
        // The hardware's atomic unit needs no plan.
        if CommitPlan.fitsOneWord(offset, buffer.count) { return try storeInPlace(buffer, at: offset) }
        let chunk = layout.chunkSize
        let logical = layout.chunk(of: offset)
        if layout.chunk(of: offset + buffer.count - 1) == logical {
            // One chunk: logged while small, else copied out and remapped.
            if buffer.count < chunk && CommitPlan.logs(CommitRecord.entryHeadSize + PoolLayout.alignUp(buffer.count, 8), chunk: chunk) {
                if defersApply { return try logOneDeferred(buffer, at: offset, logical: logical) }
                return try logOne(buffer, at: offset, logical: logical)
            }
            if defersApply { return try remapOnePaired(buffer, at: offset, logical: logical) }
            return try remapOne(buffer, at: offset, logical: logical)
        }
        try commit([(offset, Array(buffer))])
    }

    /// Runs `body` to collect writes, then commits them all at once
    /// (failure-atomic msync): durable and all-or-nothing on return, which
    /// returns what `body` returned. If `body` throws, nothing is written.
    /// Loads in `body` (``PoolTransaction/load(_:at:)``,
    /// ``PoolTransaction/read(at:count:)``) see its own pending writes.
    ///
    /// Throws what `body` throws, or the commit's ``/PMemSystem/PMemError``.
    /// A body that throws only ``/PMemSystem/PMemError`` (or nothing) gets
    /// the overload below, which throws `PMemError` too.
    @discardableResult
    public func transaction<R, E: Error>(_ body: (inout PoolTransaction) throws(E) -> R) throws -> R {
        var transaction = PoolTransaction(pool: self)
        let result = try body(&transaction)
        try commit(transaction.writes)
        return result
    }

    /// Runs `body` to collect writes, then commits them all at once, as
    /// the general overload above does, for a body
    /// that throws only ``/PMemSystem/PMemError``: then so does the
    /// transaction, and callers can match on its code without a cast. A
    /// closure that uses `try` infers `throws(any Error)` unless it says
    /// otherwise: write `{ tx throws(PMemError) in … }`.
    @discardableResult
    public func transaction<R>(_ body: (inout PoolTransaction) throws(PMemError) -> R) throws(PMemError) -> R {
        var transaction = PoolTransaction(pool: self)
        let result = try body(&transaction)
        try commit(transaction.writes)
        return result
    }

    /// The sizes a commit plan depends on.
    var planGeometry: CommitPlan.Geometry {
        CommitPlan.Geometry(capacity: capacity, chunkSize: layout.chunkSize,
                            laneBodyCapacity: layout.laneSize - CommitRecord.headerSize, spareChunks: layout.spareChunks)
    }

    /// The general path: any set of writes, planned (CommitPlan), then
    /// carried out by the one-write fast paths or the executor.
    func commit(_ writes: [(offset: Int, bytes: [UInt8])]) throws(PMemError) {
        let route: CommitPlan.Route
        do { route = try CommitPlan.route(writes, in: planGeometry) } catch {
            var error = error
            error.path = path
            throw error
        }
        switch route {
        case .nothing: return
        case .single(let offset, let bytes): try write(bytes, at: offset)
        case .planned(let plan): try execute(plan)
        }
    }

    /// Runs a planned commit (docs/FORMAT.md, "Update protocol"): kills,
    /// new contents of `remapped` chunks into spare chunks, the record (body
    /// and header, one flush), fence; apply, fence; remap the view.
    private func execute(_ plan: CommitPlan) throws(PMemError) {
        let chunk = layout.chunkSize
        let touched = plan.touched, remapped = plan.remapped
        // Chunks in ascending order, then spares, then a lane.
        var held = 0
        defer { for l in touched.prefix(held) { locks.unlock(chunk: l) } }
        for l in touched {
            guard locks.lock(chunk: l) else { throw needsRecoveryError }
            held += 1
        }
        var spares = [Int](repeating: 0, count: remapped.count)
        let took = spares.withUnsafeMutableBufferPointer { locks.takeSpares(remapped.count, into: $0) }
        guard took else { throw needsRecoveryError }
        // Lanes: those of the last records that touched these chunks, in
        // ascending order; the first becomes this commit's lane (overwritten),
        // the others are killed, and all are held until the commit fence has
        // made the kills durable.
        // A lane whose record no longer touches these chunks may still be
        // being overwritten by its holder: taking it waits for that holder's
        // fence. Killing a record whose commit has returned is always safe.
        // With lanes in pairs (docs/FORMAT.md, "Deferred apply") these are
        // pairs: the record goes into the older slot of the first; both slots
        // of the others die, and the first's newer slot if it is the last
        // record of one of these chunks; each apply durable before.
        var live: [Int] = []
        for l in touched {
            let j = locks.lastLane(l)
            let unit = defersApply && j >= 0 ? j & ~1 : j
            if unit >= 0, !live.contains(unit) { live.append(unit) }
        }
        live.sort()
        for j in live { locks.lockLane(j) }
        let lane = live.first ?? locks.acquireLane()
        var othersHeld = live.count > 1
        defer {
            if othersHeld { for j in live.dropFirst() { locks.releaseLane(j) } }
            locks.releaseLane(lane)
        }
        let slot = defersApply ? olderSlot(lane) : lane
        if defersApply {
            // Older records die a sync before newer ones (docs/FORMAT.md,
            // "Deferred apply"); every apply durable before its record dies.
            let waves = killWaves(touching: touched, overwritten: slot)
            if !locks.applyIsDurable(slot) || (waves.first + waves.second).contains(where: { !locks.applyIsDurable($0) }) {
                syncAll(at: .commitSettleSync)
            }
            if !waves.first.isEmpty {
                for j in waves.first { kill(lane: j, at: .commitFirstWaveKillFlush) }
                fence(at: .commitFirstWaveKillFence)
            }
            for j in waves.second { kill(lane: j, at: .commitSecondWaveKillFlush) }
        } else {
            for j in live.dropFirst() { kill(lane: j, at: .commitKillFlush) }
        }
        var replaced: [Int] = []
        var committed = false, finished = false
        defer {
            if !committed { spares.withUnsafeBufferPointer { locks.free($0) } } // never named anywhere
            // Committed but not finished: only recovery may finish it, so
            // nothing else may write until the pool is reopened.
            else if !finished { locks.poison() }
        }

        var sequence = max(locks.laneSequence(slot), defersApply ? locks.laneSequence(slot ^ 1) : 0)
        for l in touched { sequence = max(sequence, locks.lastSequence(l)) }
        sequence &+= 1

        // New contents of remapped chunks into spare chunks; the log body.
        var entries: [LogEntry] = []
        var remapBytes = 0
        for (i, remap) in remapped.enumerated() {
            let logical = remap.logical
            let destination = file.base + layout.chunkOffset(spares[i])
            // The bytes the update leaves as they are, from the chunk's current
            // physical copy through the file mapping: the view's pages of a
            // chunk remapped earlier would each fault in first (measured:
            // most of the cost of a partial-chunk remap on tmpfs).
            let current = file.base + layout.chunkOffset(pageTable[logical])
            for gap in CommitPlan.uncovered(remap.pieces, chunk: logical, size: chunk) {
                copyAndFlush(destination + gap.lowerBound, current + gap.lowerBound, gap.count, at: .commitRemapKeptBytesCopy)
                remapBytes += gap.count
            }
            for piece in remap.pieces {
                piece.bytes.withUnsafeBytes { src in
                    copyAndFlush(destination + piece.offset - logical * chunk, src.baseAddress!, src.count, at: .commitRemapWriteCopy)
                }
                remapBytes += piece.bytes.count
            }
            entries.append(.pageTable(logical: logical, physical: spares[i]))
        }
        // The record's checksum does not cover remapped chunks: their contents
        // must be durable before a record can name them.
        if !remapped.isEmpty { fence(at: .commitRemapDataFence) }
        entries += plan.logEntries
        let record = file.base + layout.laneOffset(slot)
        let body = UnsafeMutableRawBufferPointer(start: record + CommitRecord.headerSize, count: layout.laneSize - CommitRecord.headerSize)
        var length = 0
        for entry in entries { length = entry.encode(into: body, at: length) }
        try Self.simulateCrash(at: .afterLogBody)
        CommitRecord.writeHeader(record, sequence: sequence, entryCount: entries.count, bodyLength: length)
        flush(record, CommitRecord.headerSize + length, at: .commitRecordFlush)
        fence(at: .commitFence)
        committed = true
        if othersHeld {
            for j in live.dropFirst() { locks.releaseLane(j) }
            othersHeld = false
        }
        for l in touched { noteRecord(lane: slot, sequence: sequence, logical: l) }
        locks.setLaneSequence(slot, sequence)
        locks.setPendingTicket(slot, 0) // applied and fenced below, before any other holder
        locks.add(lane: lane, logBytes: length + CommitRecord.headerSize, remapBytes: remapBytes)
        try Self.simulateCrash(at: .afterCommitRecord)

        // Apply; remap the view.
        let applied = try Self.apply(entries, base: file.base, layout: layout, persistence: persistence, path: path,
                                     dataSite: .commitApplyCopy, pageTableSite: .commitPageTableFlush)
        fence(at: .commitApplyFence)
        locks.add(lane: lane, appliedBytes: applied)
        try Self.simulateCrash(at: .afterApply)
        for (i, remap) in remapped.enumerated() {
            replaced.append(pageTable[remap.logical])
            pageTable[remap.logical] = spares[i]
        }
        // A failure here leaves the view behind the durable page table: the
        // pool is poisoned (reads too) until it is reopened.
        for (i, remap) in remapped.enumerated() { try mapChunks(remap.logical, count: 1, physical: spares[i]) }
        finished = true
        // The page-table entries naming the new chunks are durable (the apply
        // fence): the replaced chunks can take new contents.
        replaced.withUnsafeBufferPointer { locks.free($0) }
        locks.add(lane: lane, commits: 1, bytesRequested: plan.requested, remaps: remapped.count, fences: remapped.isEmpty ? 2 : 3)
    }

    /// The error of an operation the pool refuses: it was closed, or an
    /// update failed after its commit point.
    var needsRecoveryError: PMemError {
        if locks.isClosed { return PMemError(.poolClosed, "the pool was closed (Pool.close()); open it again to use it", path: path) }
        return PMemError(.needsRecovery, "an earlier update failed after it was committed; close and reopen the pool so that recovery finishes it", path: path)
    }

    /// The address, in the whole-file mapping, of logical byte `offset`.
    func fileAddress(ofLogical offset: Int) -> UnsafeMutableRawPointer {
        file.base + layout.chunkOffset(pageTable[layout.chunk(of: offset)]) + layout.offsetInChunk(offset)
    }
}

extension Pool {
    /// Writes the bytes of `span` at logical `offset`, failure-atomically,
    /// durable on return, straight from the span's memory (no copy).
    public func write(_ span: RawSpan, at offset: Int) throws(PMemError) {
        try span.withUnsafeBytes { (buffer) throws(PMemError) in try write(buffer, at: offset) }
    }

    /// Writes the bytes of `span` at logical `offset`, failure-atomically,
    /// durable on return, straight from the span's memory (no copy).
    public func write(_ span: Span<UInt8>, at offset: Int) throws(PMemError) {
        try span.withUnsafeBytes { (buffer) throws(PMemError) in try write(buffer, at: offset) }
    }

    /// Writes `value`'s bytes at logical `offset`, failure-atomically,
    /// durable on return: a fixed-layout record updated all at once (8
    /// aligned bytes or fewer take the hardware's atomic store).
    @inlinable
    public func write<T: BitwiseCopyable>(value: T, at offset: Int) throws(PMemError) {
        try Swift.withUnsafeBytes(of: value) { (buffer) throws(PMemError) in try write(buffer, at: offset) }
    }
}
