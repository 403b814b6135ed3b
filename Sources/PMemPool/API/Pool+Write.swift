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
        try commitOne(buffer, at: offset)
    }

    /// A write larger than a word: one chunk logged or remapped, or planned.
    /// Out of line, so that the in-place write above pays nothing for it.
    @inline(never)
    private func commitOne(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(PMemError) {
        let chunk = layout.chunkSize
        let logical = layout.chunk(of: offset)
        if layout.chunk(of: offset + buffer.count - 1) == logical {
            // One chunk: logged while small, else copied out and remapped.
            if buffer.count < chunk && CommitPlan.logs(CommitRecord.entryHeadSize + PoolLayout.alignUp(buffer.count, 8), chunk: chunk) {
                var update = LoggedWrite(bytes: buffer, offset: offset, logical: logical)
                return try perform(&update)
            }
            var update = RemappedWrite(buffer, at: offset, logical: logical)
            return try perform(&update)
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
    /// carried out by the commit skeleton (Pool+CommitSkeleton.swift).
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
        case .planned(let plan):
            var update = PlannedUpdate(plan)
            try perform(&update)
        }
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
