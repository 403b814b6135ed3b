public import PMemSystem

/// A typed place in a pool: the logical offset of a fixed-layout `Value`
/// (a counter, a record header, a slot of a table), made by
/// ``Pool/handle(to:at:)``, which checks that the value lies inside the pool
/// and is aligned as `Value` needs. Loads and writes through a handle take no
/// offset arithmetic or type at the call site:
///
/// ```swift
/// struct Header: BitwiseCopyable { var count: UInt64; var head: UInt64 }
/// let header = try pool.handle(to: Header.self, at: 0)
/// var h = try pool.load(header)
/// h.count += 1
/// try pool.write(h, to: header)          // failure-atomic, durable on return
/// ```
///
/// A handle is a value: it does not keep its pool open, and every use checks
/// its bounds again against the pool it is used with.
public struct PoolHandle<Value: BitwiseCopyable>: Hashable, Sendable {
    /// The logical offset of the value in the pool.
    public let offset: Int

    init(offset: Int) { self.offset = offset }

    /// The bytes the value takes.
    public static var size: Int { MemoryLayout<Value>.size }

    /// The bytes from one value to the next in an array of them.
    public static var stride: Int { MemoryLayout<Value>.stride }

    /// The range of logical bytes the value takes.
    public var range: Range<Int> { offset..<(offset + Self.size) }

    /// The handle of the value `n` strides further on (an array of records
    /// laid out one after another), or nil when that offset, or the end of
    /// its value, overflows. Its bounds are checked when it is used.
    public func advanced(by n: Int) -> PoolHandle? {
        let (delta, o1) = n.multipliedReportingOverflow(by: Self.stride)
        let (next, o2) = offset.addingReportingOverflow(delta)
        return o1 || o2 || next < 0 || next > Int.max - Self.size ? nil : PoolHandle(offset: next)
    }
}

extension Pool {
    /// A handle to the `Value` at logical `offset`.
    ///
    /// - Throws: ``/PMemSystem/PMemError/Code/outOfBounds`` when the value
    ///   does not lie wholly inside the pool,
    ///   ``/PMemSystem/PMemError/Code/unalignedOffset`` when `offset` is not a
    ///   multiple of `Value`'s alignment.
    public func handle<Value: BitwiseCopyable>(to type: Value.Type = Value.self, at offset: Int) throws(PMemError) -> PoolHandle<Value> {
        let size = MemoryLayout<Value>.size
        guard fits(offset, size, in: capacity) else {
            throw PMemError(.outOfBounds, "a \(Value.self) (\(size) bytes) at offset \(offset) lies outside the pool's \(capacity) bytes",
                            path: path)
        }
        let alignment = MemoryLayout<Value>.alignment
        guard offset % alignment == 0 else {
            throw PMemError(.unalignedOffset, "a \(Value.self) needs an offset aligned to \(alignment) bytes, not \(offset)",
                            path: path, requiredAlignment: alignment)
        }
        return PoolHandle(offset: offset)
    }

    /// The value at `handle`.
    public func load<Value>(_ handle: PoolHandle<Value>) throws(PMemError) -> Value {
        try load(Value.self, at: handle.offset)
    }

    /// Writes `value` at `handle`, failure-atomically and durable on return
    /// (8 aligned bytes or fewer in place, with the hardware's atomic store).
    public func write<Value>(_ value: Value, to handle: PoolHandle<Value>) throws(PMemError) {
        try write(value: value, at: handle.offset)
    }
}

extension PoolTransaction {
    /// The value at `handle` as the pool will hold it once this transaction
    /// commits (its own pending writes laid over the pool's bytes).
    public func load<Value>(_ handle: PoolHandle<Value>) throws(PMemError) -> Value {
        try load(Value.self, at: handle.offset)
    }

    /// Adds a write of `value` at `handle`.
    public mutating func store<Value>(_ value: Value, to handle: PoolHandle<Value>) {
        store(value, at: handle.offset)
    }
}
