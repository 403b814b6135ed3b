public import PMemSystem
import CPMem2

extension Mapping {
    /// Makes the stores in `range` durable: flush, then drain. With page
    /// granularity this is an `msync` of the pages holding `range`.
    public func persist(_ range: Range<Int>) throws(PMemError) {
        let p = try address(of: range, writing: false)
        if let routed { return routed.persist(p, range.count) }
        persistFn(p, range.count)
    }

    /// Flushes `range` from the CPU caches without waiting: durable only after
    /// the next ``drain()``. Lets a writer flush several ranges and fence once.
    public func flush(_ range: Range<Int>) throws(PMemError) {
        let p = try address(of: range, writing: false)
        if let routed { return routed.flush(p, range.count) }
        flushFn(p, range.count)
    }

    /// Waits until every earlier ``flush(_:)`` (and `.noDrain` copy) is durable.
    public func drain() {
        if let routed { return routed.drain() }
        drainFn()
    }

    /// Copies `source` into the mapping at `offset` with libpmem2's memcpy,
    /// which persists what it wrote unless `flags` say otherwise.
    public func copy(from source: UnsafeRawBufferPointer, to offset: Int, flags: MemoryFlags = []) throws(PMemError) {
        let p = try address(at: offset, count: source.count, writing: true)
        guard let from = source.baseAddress else { return }
        if let routed { return routed.write(p, source.count, flags) { p.copyMemory(from: from, byteCount: source.count) } }
        _ = memcpyFn(p, from, source.count, flags.pmem2)
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
        if let routed { return routed.write(to, count, flags) { to.copyMemory(from: from, byteCount: count) } }
        _ = memmoveFn(to, from, count, flags.pmem2)
    }

    /// Sets every byte of `range` to `byte` with libpmem2's memset, persisting
    /// them unless `flags` say otherwise.
    public func set(_ byte: UInt8, in range: Range<Int>, flags: MemoryFlags = []) throws(PMemError) {
        let p = try address(of: range, writing: true)
        if let routed { return routed.write(p, range.count, flags) { p.initializeMemory(as: UInt8.self, repeating: byte, count: range.count) } }
        _ = memsetFn(p, CInt(byte), range.count, flags.pmem2)
    }

    /// Flushes `range` all the way to the media, past the memory controller's
    /// write-pending queues (ADR's deep flush; `msync` on page granularity).
    /// Costly: for data that must survive even a failure of ADR.
    public func deepFlush(_ range: Range<Int>) throws(PMemError) {
        let p = try address(of: range, writing: false)
        // The caches first (through the routing, so that a simulated domain
        // sees it), then past the queues.
        if let routed { routed.persist(p, range.count) } else if storeGranularity != .page { persistFn(p, range.count) }
        if isDeviceDAX { return try DeepFlush.region(ofDevice: deviceNumber, path: path) }
        try DeepFlush.sync(p, range.count, path: path)
    }
}
