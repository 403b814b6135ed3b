extension Pool {
    /// Calls `body` with the pool's logical contents (the view), read-only.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: view, count: capacity))
    }

    /// Loads a value of type `T` from logical `offset`.
    public func load<T: BitwiseCopyable>(_ type: T.Type = T.self, at offset: Int) throws(PMemError) -> T {
        try checkRange(offset, MemoryLayout<T>.size)
        return (view + offset).loadUnaligned(as: T.self)
    }

    /// The `count` bytes at logical `offset`.
    public func read(at offset: Int, count: Int) throws(PMemError) -> [UInt8] {
        try checkRange(offset, count)
        return Array(UnsafeRawBufferPointer(start: view + offset, count: count))
    }

    /// Stores `value` in place at logical `offset`, for code that orders its
    /// own stores: not durable until ``persist(_:)``, and failure-atomic only
    /// for 8 aligned bytes. Must not race with a commit touching the same chunk.
    public func store<T: BitwiseCopyable>(_ value: T, at offset: Int) throws(PMemError) {
        try checkRange(offset, MemoryLayout<T>.size)
        if locks.isPoisoned { throw needsRecoveryError }
        (view + offset).storeBytes(of: value, as: T.self)
    }

    /// Makes in-place stores in `range` durable (flush and fence).
    public func persist(_ range: Range<Int>) throws(PMemError) {
        try checkRange(range.lowerBound, range.count)
        if locks.isPoisoned { throw needsRecoveryError }
        // Chunk by chunk, through the file mapping's addresses.
        var offset = range.lowerBound
        while offset < range.upperBound {
            let n = min(range.upperBound - offset, layout.chunkSize - offset % layout.chunkSize)
            persistence.flush(fileAddress(ofLogical: offset), n)
            offset += n
        }
        persistence.drain()
        counters[0].fences.add(1, ordering: .relaxed)
    }

    private func checkRange(_ offset: Int, _ count: Int) throws(PMemError) {
        guard offset >= 0, count >= 0, offset <= capacity, count <= capacity - offset else {
            throw PMemError(.outOfBounds, "\(count) bytes at offset \(offset) lie outside the pool's \(capacity) bytes", path: path)
        }
    }
}
