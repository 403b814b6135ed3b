/// Whether `count` bytes at `offset` lie inside `size` bytes: the one bounds
/// check of every layer, written so that no operand can overflow (a count of
/// 0 at `offset == size` fits; negative offsets and counts never do).
@inlinable @inline(__always)
package func fits(_ offset: Int, _ count: Int, in size: Int) -> Bool {
    offset >= 0 && count >= 0 && offset <= size && count <= size - offset
}

/// The length of `range`, or nil when it does not fit an `Int`
/// (`range.count` itself traps for ranges such as `Int.min..<1`).
@inline(__always)
package func checkedCount(_ range: Range<Int>) -> Int? {
    let (length, overflow) = range.upperBound.subtractingReportingOverflow(range.lowerBound)
    return overflow ? nil : length
}
