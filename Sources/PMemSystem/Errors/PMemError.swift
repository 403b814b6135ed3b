public import SystemPackage

/// The one error type of swift-pmem.
///
/// Every failure carries a ``Code`` (what kind of failure, stable across
/// releases and extensible), a human-readable ``message`` that says what went
/// wrong and, where there is one, what to do about it, and the context that
/// produced it: the file's ``path``, the ``errno`` of a failed system call,
/// the libpmem2 error code and message, the file offset and the required
/// alignment.
///
/// Match on ``code`` rather than on ``message``:
/// ```swift
/// do { let m = try Mapping(path: "/dev/shm/pool") }
/// catch let error where error.code == .fileNotFound { … }
/// ```
public struct PMemError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public var code: Code
    /// What went wrong, and what to do about it when that is known.
    public var message: String
    /// The file the operation was working on, when there is one.
    public var path: FilePath?
    /// The `errno` of the failed system call, when one failed.
    public var errno: Errno?
    /// The libpmem2 failure behind this error, when libpmem2 reported one.
    public var libpmem2: LibPMem2Failure?
    /// The offset in the file where the problem is, for extent and range errors.
    public var fileOffset: Int?
    /// The alignment the operation requires, for alignment errors.
    public var requiredAlignment: Int?

    /// Creates an error. Library code fills in the context it has.
    public init(
        _ code: Code,
        _ message: String,
        path: FilePath? = nil,
        errno: Errno? = nil,
        libpmem2: LibPMem2Failure? = nil,
        fileOffset: Int? = nil,
        requiredAlignment: Int? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
        self.libpmem2 = libpmem2
        self.fileOffset = fileOffset
        self.requiredAlignment = requiredAlignment
    }

    /// `code: message (path, offset, alignment, errno, libpmem2)` on one line.
    public var description: String {
        var parts: [String] = []
        if let path { parts.append("path \(path)") }
        if let fileOffset { parts.append("file offset \(fileOffset)") }
        if let requiredAlignment { parts.append("required alignment \(requiredAlignment)") }
        if let errno { parts.append("errno \(errno.rawValue) (\(errno))") }
        if let libpmem2 { parts.append("libpmem2 \(libpmem2.code): \(libpmem2.message)") }
        let context = parts.isEmpty ? "" : " [" + parts.joined(separator: "; ") + "]"
        return "\(code): \(message)\(context)"
    }
}

/// A failure reported by libpmem2: its (negative) error code and the message
/// from `pmem2_errormsg()` captured on the failing thread.
public struct LibPMem2Failure: Sendable, Hashable {
    /// libpmem2's return code (a negative `PMEM2_E_*` value or a negated errno).
    public var code: Int32
    /// libpmem2's own description of the failure.
    public var message: String

    /// Creates a failure record.
    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }
}
