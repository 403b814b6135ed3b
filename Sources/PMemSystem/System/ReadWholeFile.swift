import Glibc

/// A whole file, read with read(2) until the end (for /proc files, whose
/// size reads as 0 so that size-based readers stop early).
package func readWholeFile(_ path: String) throws(PMemError) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw PMemError(.fileNotFound, "cannot open \(path)") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The integer on the first line of a file such as /proc/sys/vm/max_map_count.
package func readInteger(_ path: String) -> Int? {
    guard let text = try? readWholeFile(path), let line = text.split(separator: "\n").first else { return nil }
    return Int(line)
}
