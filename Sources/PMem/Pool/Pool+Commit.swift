extension Pool {
    /// Writes `bytes` at logical `offset`, failure-atomically, durable on
    /// return (O_ATOMIC | O_DSYNC): after a crash either all of them are in
    /// the pool or none.
    ///
    /// - Throws: ``PMemError/Code/outOfBounds`` past the capacity,
    ///   ``PMemError/Code/updateTooLarge`` beyond ``maxAtomicWrite``; both
    ///   before anything changes.
    public func write(_ bytes: [UInt8], at offset: Int) throws(PMemError) {
        // The hardware's atomic unit needs no plan (and no arrays).
        if offset >= 0, offset <= capacity - bytes.count, Self.fitsOneWord(offset, bytes.count) {
            return try storeInPlace(bytes, at: offset)
        }
        try commit([(offset, bytes)])
    }

    /// Writes the bytes of `buffer` at logical `offset`, failure-atomically.
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(PMemError) {
        try commit([(offset, Array(buffer))])
    }

    /// Runs `body` to collect writes, then commits them all at once
    /// (failure-atomic msync): durable and all-or-nothing on return. If
    /// `body` throws, nothing is written.
    public func transaction<E: Error>(_ body: (inout PoolTransaction) throws(E) -> Void) throws {
        var transaction = PoolTransaction()
        try body(&transaction)
        try commit(transaction.writes)
    }

    /// A partial chunk whose new bytes exceed 1/remapFraction of the chunk is
    /// copied out and remapped rather than logged.
    static let remapFraction = 4

    /// Whether `count` bytes at `offset` (not negative) lie inside one aligned
    /// 8-byte word: the hardware's failure-atomic unit, stored in place.
    static func fitsOneWord(_ offset: Int, _ count: Int) -> Bool {
        count > 0 && offset % 8 + count <= 8
    }

    /// One piece of a write that falls in one logical chunk.
    private struct Piece {
        var offset: Int
        var bytes: ArraySlice<UInt8>
    }

    func commit(_ writes: [(offset: Int, bytes: [UInt8])]) throws(PMemError) {
        var requested = 0
        for w in writes {
            guard w.offset >= 0, w.offset <= capacity, w.bytes.count <= capacity - w.offset else {
                throw PMemError(.outOfBounds, "\(w.bytes.count) bytes at offset \(w.offset) lie outside the pool's \(capacity) bytes",
                                path: path, fileOffset: w.offset >= 0 ? w.offset : nil)
            }
            requested += w.bytes.count
        }
        let writes = writes.filter { !$0.bytes.isEmpty }
        guard !writes.isEmpty else { return }
        if writes.count == 1, Self.fitsOneWord(writes[0].offset, writes[0].bytes.count) {
            return try storeInPlace(writes[0].bytes, at: writes[0].offset)
        }

        let chunk = layout.chunkSize
        // The common small update: one write inside one chunk, small enough
        // to log. Planned without the general planner's tables (measured:
        // they cost more than the log itself for writes of a few bytes).
        if writes.count == 1 {
            let w = writes[0]
            let logical = w.offset / chunk
            let logSize = CommitRecord.entryHeadSize + PoolLayout.alignUp(w.bytes.count, 8)
            // A lane holds two chunks of payload, so a quarter chunk always fits.
            if (w.offset + w.bytes.count - 1) / chunk == logical, logSize <= chunk / Self.remapFraction {
                return try execute(touched: [logical], remapped: [], logEntries: [.data(offset: w.offset, bytes: w.bytes)],
                                   requested: requested)
            }
        }

        // Plan: the pieces of each chunk, in write order; chunks wholly
        // covered are remapped, the rest logged while the lane has room.
        var pieces: [Int: [Piece]] = [:]
        for w in writes {
            var done = 0
            while done < w.bytes.count {
                let logical = (w.offset + done) / chunk
                let n = min(w.bytes.count - done, chunk - (w.offset + done) % chunk)
                pieces[logical, default: []].append(Piece(offset: w.offset + done, bytes: w.bytes[done..<(done + n)]))
                done += n
            }
        }
        var remapped = pieces.keys.filter { covers(pieces[$0]!, chunk: $0) }
        var logged = pieces.keys.filter { !covers(pieces[$0]!, chunk: $0) }.sorted()
        func logSize(_ l: Int) -> Int { pieces[l]!.reduce(0) { $0 + CommitRecord.entryHeadSize + PoolLayout.alignUp($1.bytes.count, 8) } }
        // Measured (Benchmarks, "pool write …"): logging costs about twice the
        // bytes plus an apply, remapping a chunk costs a chunk copy and an
        // mmap, so past a quarter of a chunk copying it out and remapping
        // wins. Spare chunks permitting: the guarantee of maxAtomicWrite
        // must not depend on it.
        for l in logged.sorted(by: { logSize($0) > logSize($1) })
        where logSize(l) > chunk / Self.remapFraction && remapped.count < layout.spareChunks {
            logged.removeAll { $0 == l }
            remapped.append(l)
        }
        var bodySize = logged.reduce(0) { $0 + logSize($1) } + remapped.count * CommitRecord.entryHeadSize
        while bodySize > layout.laneSize - PoolLayout.commitRecordSize, let biggest = logged.max(by: { logSize($0) < logSize($1) }) {
            // Too much for the lane: copy this chunk out and remap it instead.
            logged.removeAll { $0 == biggest }
            remapped.append(biggest)
            bodySize += CommitRecord.entryHeadSize - logSize(biggest)
        }
        remapped.sort()
        guard bodySize <= layout.laneSize - PoolLayout.commitRecordSize else {
            throw PMemError(.updateTooLarge, "the update's log (\(bodySize) bytes of entries) does not fit a lane of \(layout.laneSize) bytes; split it into smaller transactions",
                            path: path)
        }
        guard remapped.count <= layout.spareChunks else {
            throw PMemError(.updateTooLarge, "the update needs \(remapped.count) spare chunks of \(chunk) bytes and the pool has \(layout.spareChunks): its largest atomic write is \(maxAtomicWrite) bytes",
                            path: path)
        }
        var logEntries: [LogEntry] = []
        for logical in logged {
            for piece in pieces[logical]! { logEntries.append(.data(offset: piece.offset, bytes: Array(piece.bytes))) }
        }
        try execute(touched: Set(pieces.keys), remapped: remapped.map { ($0, pieces[$0]!) }, logEntries: logEntries,
                    requested: requested)
    }

    /// Runs a planned commit (docs/FORMAT.md, "Update protocol"): new
    /// contents of `remapped` chunks into spare chunks and the log body;
    /// the commit record; apply; remap the view; retire.
    private func execute(touched: Set<Int>, remapped: [(logical: Int, pieces: [Piece])], logEntries: [LogEntry],
                         requested: Int) throws(PMemError) {
        let chunk = layout.chunkSize
        guard let (lane, spares) = locks.acquire(touched, spares: remapped.count) else { throw needsRecoveryError }
        let tally = counters[lane]
        var replaced: [Int] = []
        var stage = 0 // 0: nothing durable, 1: committed, 2: retired
        defer {
            switch stage {
            case 0: locks.release(touched, lane: lane, freed: spares) // never named anywhere
            case 1: // Committed but not finished: only recovery may finish it,
                // so nothing else may write (not even into this lane) until then.
                locks.poison()
                locks.release(touched, lane: lane, freed: [])
            default: locks.release(touched, lane: lane, freed: replaced)
            }
        }

        // 1. New contents of remapped chunks into spare chunks; the log body.
        var entries: [LogEntry] = []
        for (i, (logical, pieces)) in remapped.enumerated() {
            let destination = file.base + layout.chunkOffset(spares[i])
            // The bytes the update leaves as they are, from the chunk's current
            // physical copy through the file mapping: the view's pages of a
            // chunk remapped earlier would each fault in first (measured:
            // most of the cost of a partial-chunk remap on tmpfs).
            let current = file.base + layout.chunkOffset(pageTable[logical])
            for gap in uncovered(pieces, chunk: logical) {
                copyRemapData(destination + gap.lowerBound, current + gap.lowerBound, gap.count)
                tally.remapBytes.add(gap.count, ordering: .relaxed)
            }
            for piece in pieces {
                piece.bytes.withUnsafeBytes { src in
                    copyRemapData(destination + piece.offset - logical * chunk, src.baseAddress!, src.count)
                }
                tally.remapBytes.add(piece.bytes.count, ordering: .relaxed)
            }
            entries.append(.pageTable(logical: logical, physical: spares[i]))
        }
        entries += logEntries
        let record = file.base + layout.laneOffset(lane)
        let body = UnsafeMutableRawBufferPointer(start: record + PoolLayout.commitRecordSize, count: layout.laneSize - PoolLayout.commitRecordSize)
        var length = 0
        for entry in entries { length = entry.encode(into: body, at: length) }
        if Self.droppedStep != .logBodyFlush { persistence.flush(body.baseAddress!, length) }
        if Self.droppedStep != .logBodyFence { fence(tally) }
        try Self.simulateCrash(at: .afterLogBody)

        // 2. The commit record: from here on the update survives a crash.
        let header = CommitRecord(
            sequence: nextSequence.add(1, ordering: .relaxed).newValue, entryCount: entries.count, bodyLength: length,
            bodyCRC: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: body[0..<length]))).encoded()
        header.withUnsafeBytes { persistence.copyAndFlush(record, $0.baseAddress!, $0.count) }
        if Self.droppedStep != .commitFence { fence(tally) }
        stage = 1
        tally.logBytes.add(length + PoolLayout.commitRecordSize, ordering: .relaxed)
        try Self.simulateCrash(at: .afterCommitRecord)

        // 3. Apply; 4. remap the view; 5. retire.
        let applied = try Self.apply(entries, base: file.base, layout: layout, persistence: persistence, path: path)
        if Self.droppedStep != .applyFence { fence(tally) }
        tally.appliedBytes.add(applied, ordering: .relaxed)
        try Self.simulateCrash(at: .afterApply)
        for (i, (logical, _)) in remapped.enumerated() {
            replaced.append(pageTable[logical])
            pageTable[logical] = spares[i]
            try mapChunks(logical, count: 1, physical: spares[i])
        }
        Self.retire(lane: lane, base: file.base, layout: layout, persistence: persistence)
        stage = 2
        tally.fences.add(1, ordering: .relaxed)
        tally.remaps.add(remapped.count, ordering: .relaxed)
        tally.commits.add(1, ordering: .relaxed)
        tally.bytesRequested.add(requested, ordering: .relaxed)
    }

    /// Whether the pieces cover every byte of the chunk.
    private func covers(_ pieces: [Piece], chunk logical: Int) -> Bool {
        uncovered(pieces, chunk: logical).isEmpty
    }

    /// The byte ranges of the chunk (relative to its start) that no piece covers.
    private func uncovered(_ pieces: [Piece], chunk logical: Int) -> [Range<Int>] {
        let start = logical * layout.chunkSize
        let ranges = pieces.map { ($0.offset - start)..<($0.offset - start + $0.bytes.count) }.sorted { $0.lowerBound < $1.lowerBound }
        var gaps: [Range<Int>] = []
        var next = 0
        for r in ranges {
            if r.lowerBound > next { gaps.append(next..<r.lowerBound) }
            next = max(next, r.upperBound)
        }
        if next < layout.chunkSize { gaps.append(next..<layout.chunkSize) }
        return gaps
    }

    /// At most 8 bytes inside one aligned 8-byte word: merged into the word
    /// and stored with one 8-byte store, which the hardware makes atomic.
    private func storeInPlace(_ bytes: [UInt8], at offset: Int) throws(PMemError) {
        let logical = offset / layout.chunkSize
        guard let lane = locks.acquire(chunk: logical) else { throw needsRecoveryError }
        defer { locks.release(chunk: logical, lane: lane) }
        let tally = counters[lane]
        // Through the file mapping (the same memory as the view), so that the
        // flush names the file's own addresses.
        let word = fileAddress(ofLogical: offset & ~7)
        var value = word.load(as: UInt64.self)
        withUnsafeMutableBytes(of: &value) { w in
            for (i, byte) in bytes.enumerated() { w[offset & 7 + i] = byte }
        }
        word.storeBytes(of: value, as: UInt64.self)
        if Self.droppedStep != .inPlaceFlush { persistence.flush(word, 8) }
        persistence.drain()
        tally.fences.add(1, ordering: .relaxed)
        tally.inPlaceBytes.add(8, ordering: .relaxed)
        tally.commits.add(1, ordering: .relaxed)
        tally.bytesRequested.add(bytes.count, ordering: .relaxed)
    }

    var needsRecoveryError: PMemError {
        PMemError(.needsRecovery, "an earlier update failed after it was committed; close and reopen the pool so that recovery finishes it", path: path)
    }

    /// Copies new contents into a spare chunk and flushes them.
    private func copyRemapData(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
        if Self.droppedStep == .remapDataFlush {
            destination.copyMemory(from: source, byteCount: count)
        } else {
            persistence.copyAndFlush(destination, source, count)
        }
    }

    /// The address, in the whole-file mapping, of logical byte `offset`.
    func fileAddress(ofLogical offset: Int) -> UnsafeMutableRawPointer {
        file.base + layout.chunkOffset(pageTable[offset / layout.chunkSize]) + offset % layout.chunkSize
    }

    func fence(_ tally: LaneCounters) {
        persistence.drain()
        tally.fences.add(1, ordering: .relaxed)
    }
}

/// Points in a commit (and in recovery) where tests stop the code as a crash
/// would: nothing after the point runs, nothing before it is undone.
/// `package` so that `pmemctl demo` can crash a child process at one.
package enum CrashPoint: String, Sendable, CaseIterable {
    case afterLogBody, afterCommitRecord, afterApply, duringRecovery
}

extension Pool {
    /// The crash point for the current task (tests only; nil otherwise).
    @TaskLocal package static var crashPoint: CrashPoint?

    static func simulateCrash(at point: CrashPoint) throws(PMemError) {
        if crashPoint == point { throw PMemError(.ioFailure, "simulated crash at \(point)") }
    }
}

/// Persistence steps of a commit that a test can drop, one at a time, to
/// show that the crash checker notices (the mutation check of the crash model).
enum PersistenceStep: Sendable, CaseIterable {
    case remapDataFlush, logBodyFlush, logBodyFence, commitFence, applyFence, inPlaceFlush
}

extension Pool {
    /// The step to leave out in the current task (tests only; nil otherwise).
    @TaskLocal static var droppedStep: PersistenceStep?
}
