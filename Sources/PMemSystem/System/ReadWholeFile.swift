package import SystemPackage
import Glibc

// Whole files read into memory, for every layer and tool: one reader, with
// EINTR retried, failures as PMemError and the fault injector's reach.
package extension Syscalls {
    /// All the bytes left to read from `fd` (a file, a pipe, standard input).
    static func readAll(_ fd: CInt, path: FilePath?) throws(PMemError) -> [UInt8] {
        switch readToEnd(fd) {
        case .success(let bytes): return bytes
        case .failure(let errno): throw PMemError.system(errno, "reading the file", path: path)
        }
    }

    /// The whole file at `path`.
    static func readFile(_ path: FilePath) throws(PMemError) -> [UInt8] {
        let fd: CInt
        switch open(path, O_RDONLY) {
        case .success(let value): fd = value
        case .failure(let errno): throw PMemError.system(errno, "opening the file to read it", path: path)
        }
        defer { close(fd) }
        return try readAll(fd, path: path)
    }
}

/// A whole text file, such as one in /proc.
package func readWholeFile(_ path: String) throws(PMemError) -> String {
    String(decoding: try Syscalls.readFile(FilePath(path)), as: UTF8.self)
}

/// The integer on the first line of a file such as /proc/sys/vm/max_map_count.
/// Best effort (callers have a fallback), so out of the fault injector's
/// reach: a failure injected there would only be swallowed.
package func readInteger(_ path: String) -> Int? {
    guard let text = Syscalls.withoutInjectedFault({ try? readWholeFile(path) }), let line = text.split(separator: "\n").first else { return nil }
    return Int(line)
}
