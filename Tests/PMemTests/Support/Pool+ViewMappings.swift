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
    var viewMappingCount: Int {
        let start = UInt(bitPattern: withUnsafeBytes { $0.baseAddress! }), end = start + UInt(capacity)
        // Read to the end: /proc files report size 0.
        let fd = Glibc.open("/proc/self/maps", O_RDONLY)
        guard fd >= 0 else { return -1 }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n").filter { line in
            guard let dash = line.firstIndex(of: "-"), let low = UInt(line[..<dash], radix: 16) else { return false }
            return low >= start && low < end
        }.count
    }
}
