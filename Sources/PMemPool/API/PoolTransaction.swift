public import PMemSystem
import PMemMapping
import PMemSealing
/// The writes of one transaction, collected by
/// `Pool.transaction(_:)` and committed together: after a crash, all of
/// them or none are in the pool. Later writes win where writes overlap.
public struct PoolTransaction {
    var writes: [(offset: Int, bytes: [UInt8])] = []
    /// The pool the writes go to, for loads that see them.
    private unowned let pool: Pool

    init(pool: Pool) { self.pool = pool }

    /// The `count` bytes at logical `offset` as the pool will hold them once
    /// this transaction commits: the pool's bytes with this transaction's
    /// writes so far laid over them, in order.
    public func read(at offset: Int, count: Int) throws(PMemError) -> [UInt8] {
        var bytes = try pool.read(at: offset, count: count)
        let end = offset + count
        for w in writes {
            // A pending write outside the pool (refused at commit) laps nothing.
            guard fits(w.offset, w.bytes.count, in: pool.capacity) else { continue }
            let lo = max(offset, w.offset), hi = min(end, w.offset + w.bytes.count)
            if lo < hi { bytes.replaceSubrange((lo - offset)..<(hi - offset), with: w.bytes[(lo - w.offset)..<(hi - w.offset)]) }
        }
        return bytes
    }

    /// The value of type `T` at logical `offset` as the pool will hold it once
    /// this transaction commits (see ``read(at:count:)``).
    public func load<T: BitwiseCopyable>(_ type: T.Type = T.self, at offset: Int) throws(PMemError) -> T {
        let bytes = try read(at: offset, count: MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    /// Adds a write of `bytes` at logical `offset`.
    public mutating func write(_ bytes: [UInt8], at offset: Int) {
        writes.append((offset, bytes))
    }

    /// Adds a write of the bytes in `buffer` at logical `offset`.
    public mutating func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) {
        writes.append((offset, Array(buffer)))
    }

    /// Adds a write of the bytes of `span` at logical `offset` (copied into
    /// the transaction: it outlives the span, until the commit).
    public mutating func write(_ span: RawSpan, at offset: Int) {
        writes.append((offset, span.withUnsafeBytes { Array($0) }))
    }

    /// Adds a write of the bytes of `span` at logical `offset` (copied, as above).
    public mutating func write(_ span: Span<UInt8>, at offset: Int) {
        writes.append((offset, span.withUnsafeBufferPointer { Array($0) }))
    }

    /// Adds a write of `value`'s bytes at logical `offset`.
    public mutating func store<T: BitwiseCopyable>(_ value: T, at offset: Int) {
        writes.append((offset, withUnsafeBytes(of: value) { Array($0) }))
    }
}
