import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem

extension Pool {
    /// The number of mappings the view is made of now (from /proc/self/maps),
    /// for checking the documented bound (docs/FORMAT.md, "Bounds"). Test
    /// machinery: it lives here, not in the library.
    package var viewMappingCount: Int {
        let start = UInt(bitPattern: view), end = start + UInt(capacity)
        guard let text = try? readWholeFile("/proc/self/maps") else { return -1 }
        return text.split(separator: "\n").filter { line in
            guard let dash = line.firstIndex(of: "-"), let low = UInt(line[..<dash], radix: 16) else { return false }
            return low >= start && low < end
        }.count
    }
}
