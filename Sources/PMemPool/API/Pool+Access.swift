public import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics
import SystemPackage
extension Pool {
    /// Calls `body` with the pool's logical contents (the view), read-only.
    /// Throws ``/PMemSystem/PMemError/Code/needsRecovery`` instead when a
    /// commit could not remap the view after its point of no return: the
    /// view may then show stale bytes or none, until the pool is reopened.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws(PMemError) -> R) throws(PMemError) -> R {
        if locks.isPoisoned { throw needsRecoveryError }
        return try body(UnsafeRawBufferPointer(start: view, count: capacity))
    }

    /// Loads a value of type `T` from logical `offset`.
    @inlinable
    public func load<T: BitwiseCopyable>(_ type: T.Type = T.self, at offset: Int) throws(PMemError) -> T {
        try readableAddress(at: offset, count: MemoryLayout<T>.size).loadUnaligned(as: T.self)
    }

    /// The view's address of `count` bytes at logical `offset`, checked: for
    /// the inlinable accessors, so that a caller's `load` is specialized for
    /// its type (one non-generic call, no type metadata).
    @usableFromInline
    package func readableAddress(at offset: Int, count: Int) throws(PMemError) -> UnsafeRawPointer {
        try checkRange(offset, count)
        // After a failed remap the view may lag the durable page table.
        if locks.isPoisoned { throw needsRecoveryError }
        return UnsafeRawPointer(view + offset)
    }

    /// The `count` bytes at logical `offset`.
    public func read(at offset: Int, count: Int) throws(PMemError) -> [UInt8] {
        try checkRange(offset, count)
        if locks.isPoisoned { throw needsRecoveryError }
        return Array(UnsafeRawBufferPointer(start: view + offset, count: count))
    }

    /// Stores `value` in place at logical `offset`, uncommitted, for code
    /// that orders its own stores: not durable until ``persist(_:)``, and
    /// failure-atomic only for 8 aligned bytes (unlike
    /// ``PoolTransaction/store(_:at:)``, whose stores commit together). Takes
    /// the lock of each chunk it touches, so it waits for a commit on the same
    /// chunk rather than racing its remap.
    ///
    /// The first store into a chunk whose lock stripe a committed write's
    /// record still covers kills that record first, with a fence
    /// (docs/FORMAT.md, I2); later stores cost only the lock.
    @inlinable
    public func storeUncommitted<T: BitwiseCopyable>(_ value: T, at offset: Int) throws(PMemError) {
        try Swift.withUnsafeBytes(of: value) { (bytes) throws(PMemError) in try storeUncommitted(bytes: bytes, at: offset) }
    }

    /// ``storeUncommitted(_:at:)`` of a value's bytes: not generic, so that
    /// the inlinable caller above passes no type metadata.
    @usableFromInline
    package func storeUncommitted(bytes: UnsafeRawBufferPointer, at offset: Int) throws(PMemError) {
        let size = bytes.count
        try checkRange(offset, size)
        guard size > 0 else { return }
        let first = layout.chunk(of: offset), last = layout.chunk(of: offset + size - 1)
        guard locks.lock(chunks: first..<(last + 1)) else { throw needsRecoveryError }
        defer { locks.unlock(chunks: first..<(last + 1)) }
        for l in first...last { if let held = killLiveRecord(touching: l) { locks.releaseLane(held) } }
        if size == 8 && offset % 8 == 0 {
            // The failure-atomic unit: one 8-byte store the C compiler promises.
            pmem_store64(view + offset, bytes.loadUnaligned(as: UInt64.self))
        } else {
            (view + offset).copyMemory(from: bytes.baseAddress!, byteCount: size)
        }
    }

    /// The old name of ``storeUncommitted(_:at:)``: one verb for two
    /// guarantees (a transaction's `store` is atomic, this one is not).
    @available(*, deprecated, renamed: "storeUncommitted(_:at:)")
    @inlinable
    public func store<T: BitwiseCopyable>(_ value: T, at offset: Int) throws(PMemError) {
        try storeUncommitted(value, at: offset)
    }

    /// Makes in-place stores in `range` durable (flush and fence).
    ///
    /// Each chunk of the range is flushed under its lock, so a persist and a
    /// commit on the same chunk take turns: the persist flushes the chunk the
    /// page table names before or after the commit, never a chunk being
    /// replaced. (``storeUncommitted(_:at:)`` already killed any record that could be
    /// replayed over the stores.)
    public func persist(_ range: Range<Int>) throws(PMemError) {
        try checkRange(range.lowerBound, checkedCount(range) ?? -1)
        guard !range.isEmpty else { return }
        if locks.isPoisoned { throw needsRecoveryError }
        var offset = range.lowerBound
        while offset < range.upperBound {
            let logical = layout.chunk(of: offset)
            let n = min(range.upperBound - offset, layout.chunkSize - layout.offsetInChunk(offset))
            guard locks.lock(chunk: logical) else { throw needsRecoveryError }
            flush(fileAddress(ofLogical: offset), n, at: .persistFlush)
            locks.unlock(chunk: logical)
            offset += n
        }
        fence(at: .persistFence)
        // Chunks before lanes, as commits take them (no cycle of waiting).
        let lane = locks.acquireLane()
        locks.add(lane: lane, fences: 1)
        locks.releaseLane(lane)
    }

    /// Throws ``/PMemSystem/PMemError/Code/outOfBounds`` unless `count`
    /// logical bytes at `offset` lie inside the pool.
    @inline(__always)
    func checkRange(_ offset: Int, _ count: Int) throws(PMemError) {
        guard fits(offset, count, in: capacity) else { throw outOfBounds(offset, count) }
    }

    /// Out of line: the error's message is built only when it is thrown.
    @inline(never)
    private func outOfBounds(_ offset: Int, _ count: Int) -> PMemError {
        Self.outOfBounds(offset, count, capacity: capacity, path: path)
    }

    /// The error for `count` logical bytes at `offset` outside a pool of
    /// `capacity` bytes (a logical offset is not a file offset: none is named).
    static func outOfBounds(_ offset: Int, _ count: Int, capacity: Int, path: FilePath?) -> PMemError {
        PMemError(.outOfBounds, "\(count) bytes at offset \(offset) lie outside the pool's \(capacity) bytes", path: path)
    }
}
