/// The writes of one transaction, collected by
/// ``Pool/transaction(_:)`` and committed together: after a crash, all of
/// them or none are in the pool. Later writes win where writes overlap.
public struct PoolTransaction {
    var writes: [(offset: Int, bytes: [UInt8])] = []

    /// Adds a write of `bytes` at logical `offset`.
    public mutating func write(_ bytes: [UInt8], at offset: Int) {
        writes.append((offset, bytes))
    }

    /// Adds a write of the bytes in `buffer` at logical `offset`.
    public mutating func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) {
        writes.append((offset, Array(buffer)))
    }

    /// Adds a write of `value`'s bytes at logical `offset`.
    public mutating func store<T: BitwiseCopyable>(_ value: T, at offset: Int) {
        writes.append((offset, withUnsafeBytes(of: value) { Array($0) }))
    }
}
