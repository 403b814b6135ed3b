public import PMemSystem

extension Mapping {
    /// Makes the stores in `range` durable: flush, then drain. With page
    /// granularity this is an `msync` of the pages holding `range`.
    public func persist(_ range: Range<Int>) throws(PMemError) {
        let p = try address(of: range, writing: false)
        calls.persist(p, range.count)
    }

    /// Flushes `range` from the CPU caches without waiting: durable only after
    /// the next ``drain()``. Lets a writer flush several ranges and fence once.
    public func flush(_ range: Range<Int>) throws(PMemError) {
        let p = try address(of: range, writing: false)
        calls.flush(p, range.count)
    }

    /// Waits until every earlier ``flush(_:)`` (and `.noDrain` copy) is durable.
    public func drain() {
        calls.drain()
    }

    /// Copies `source` into the mapping at `offset` with libpmem2's memcpy,
    /// which persists what it wrote unless `flags` say otherwise.
    public func copy(from source: UnsafeRawBufferPointer, to offset: Int, flags: MemoryFlags = []) throws(PMemError) {
        let p = try address(at: offset, count: source.count, writing: true)
        guard let from = source.baseAddress else { return }
        calls.copy(p, from, source.count, flags)
    }

    /// Copies the bytes of `source` into the mapping at `offset`, persisting
    /// them unless `flags` say otherwise.
    public func copy(from source: RawSpan, to offset: Int, flags: MemoryFlags = []) throws(PMemError) {
        try source.withUnsafeBytes { (bytes) throws(PMemError) in
            try copy(from: bytes, to: offset, flags: flags)
        }
    }

    /// Moves `count` bytes inside the mapping (the ranges may overlap) with
    /// libpmem2's memmove, persisting them unless `flags` say otherwise.
    public func move(from sourceOffset: Int, to destinationOffset: Int, count: Int, flags: MemoryFlags = []) throws(PMemError) {
        let from = try address(at: sourceOffset, count: count, writing: false)
        let to = try address(at: destinationOffset, count: count, writing: true)
        calls.move(to, from, count, flags)
    }

    /// Sets every byte of `range` to `byte` with libpmem2's memset, persisting
    /// them unless `flags` say otherwise.
    public func set(_ byte: UInt8, in range: Range<Int>, flags: MemoryFlags = []) throws(PMemError) {
        let p = try address(of: range, writing: true)
        calls.set(p, byte, range.count, flags)
    }

    /// Flushes `range` all the way to the media, past the memory controller's
    /// write-pending queues (ADR's deep flush; `msync` on page granularity).
    /// Costly: for data that must survive even a failure of ADR.
    public func deepFlush(_ range: Range<Int>) throws(PMemError) {
        let p = try address(of: range, writing: false)
        // The caches first (where a flush is an msync, the sync below is
        // the whole of it), then past the queues.
        if calls.flushesLines { calls.persist(p, range.count) }
        if isDeviceDAX { return try DeepFlush.region(ofDevice: deviceNumber, path: path) }
        try DeepFlush.sync(p, range.count, path: path)
    }
}
