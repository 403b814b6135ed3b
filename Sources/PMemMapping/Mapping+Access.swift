public import PMemSystem
extension Mapping {
    /// The address of `count` bytes at `offset` in the mapping, after
    /// checking (without overflow) that they lie inside it and, for writes,
    /// that the mapping is writable.
    @inline(__always)
    package func address(at offset: Int, count length: Int, writing: Bool) throws(PMemError) -> UnsafeMutableRawPointer {
        guard fits(offset, length, in: count) else {
            let (inFile, overflow) = fileOffset.addingReportingOverflow(offset)
            throw PMemError(.outOfBounds, "\(length) bytes at offset \(offset) lie outside the mapping's \(count) bytes",
                            path: path, fileOffset: offset >= 0 && !overflow ? inFile : nil)
        }
        if writing && access == .readOnly {
            throw PMemError(.readOnly, "the mapping is read-only", path: path, fileOffset: fileOffset + offset)
        }
        return base + offset
    }

    @inline(__always)
    package func address(of range: Range<Int>, writing: Bool) throws(PMemError) -> UnsafeMutableRawPointer {
        try address(at: range.lowerBound, count: checkedCount(range) ?? -1, writing: writing)
    }

    /// Loads a value of type `T` from `offset` (any alignment).
    ///
    /// - Throws: ``/PMemSystem/PMemError/Code/outOfBounds`` if the value does not lie inside the mapping.
    @inlinable
    public func load<T: BitwiseCopyable>(_ type: T.Type = T.self, at offset: Int) throws(PMemError) -> T {
        try checkedAddress(at: offset, count: MemoryLayout<T>.size, writing: false).loadUnaligned(as: T.self)
    }

    /// Stores `value` at `offset` (any alignment). The store is not durable
    /// until the range is persisted. An 8-byte store at an 8-aligned offset
    /// is failure-atomic on x86; anything else may tear on power loss.
    ///
    /// - Throws: ``/PMemSystem/PMemError/Code/outOfBounds`` or ``/PMemSystem/PMemError/Code/readOnly``.
    @inlinable
    public func store<T: BitwiseCopyable>(_ value: T, at offset: Int) throws(PMemError) {
        try checkedAddress(at: offset, count: MemoryLayout<T>.size, writing: true).storeBytes(of: value, as: T.self)
    }

    /// ``address(at:count:writing:)`` for the inlinable accessors above, so
    /// that a caller's `store` and `load` are specialized for its type (one
    /// non-generic call, no type metadata) while the checks stay here.
    @usableFromInline
    package func checkedAddress(at offset: Int, count length: Int, writing: Bool) throws(PMemError) -> UnsafeMutableRawPointer {
        try address(at: offset, count: length, writing: writing)
    }

    /// Calls `body` with the mapped bytes, read-only.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Calls `body` with the mapped bytes, writable. Stores are not durable
    /// until persisted.
    ///
    /// - Throws: ``/PMemSystem/PMemError/Code/readOnly`` for a read-only mapping (without
    ///   calling `body`), or what `body` throws.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        let start = try address(at: 0, count: count, writing: true)
        return try body(UnsafeMutableRawBufferPointer(start: start, count: count))
    }

    /// Calls `body` with a bounds-checked `RawSpan` over the mapped bytes.
    public func withBytes<R, E: Error>(_ body: (RawSpan) throws(E) -> R) throws(E) -> R {
        try body(RawSpan(_unsafeBytes: UnsafeRawBufferPointer(start: base, count: count)))
    }

    /// Calls `body` with a bounds-checked `MutableRawSpan` over the mapped
    /// bytes. Stores are not durable until persisted.
    ///
    /// - Throws: ``/PMemSystem/PMemError/Code/readOnly`` for a read-only mapping (without
    ///   calling `body`), or what `body` throws.
    public func withMutableBytes<R>(_ body: (inout MutableRawSpan) throws -> R) throws -> R {
        let start = try address(at: 0, count: count, writing: true)
        var span = MutableRawSpan(_unsafeBytes: UnsafeMutableRawBufferPointer(start: start, count: count))
        return try body(&span)
    }
}
