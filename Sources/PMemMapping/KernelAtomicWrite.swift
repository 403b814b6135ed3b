import PMemSystem
import CLinux
import Glibc

/// What the kernel itself offers for failure-atomic writes to a file:
/// `statx(2)` with `STATX_WRITE_ATOMIC` (Linux 6.11), the mainline form of
/// the `F_IOINFO` report of the 2017 O_ATOMIC series. These are the limits of
/// `pwritev2(…, RWF_ATOMIC)` on an `O_DIRECT` descriptor, beside this
/// library's own (``IOInfo/maxAtomicWrite``), or plainly why there are none.
///
/// **Not for use on a sealed file.** xfs without hardware support performs a
/// kernel atomic write by copy-on-write: it writes new blocks and remaps them
/// into the file. That changes the block map, breaks the seal (the next
/// `SealedFile/open(_:access:)-(FilePath,_)` throws ``/PMemSystem/PMemError/Code/extentMapChanged``)
/// and stales any physical extents handed to a device. The report is here so
/// that a writer can compare the two, not as an invitation.
public enum KernelAtomicWrite: Sendable, Hashable, CustomStringConvertible {
    /// The kernel offers atomic writes to this file, within these limits.
    case offered(Limits)
    /// The running kernel predates `STATX_WRITE_ATOMIC` (Linux 6.11): it
    /// neither reports nor performs atomic writes. `release` is `uname -r`.
    case kernelTooOld(release: String)
    /// The kernel knows atomic writes, but this file system (or the device
    /// under it) offers none for this file: tmpfs, ext4 on a device without
    /// atomic-write support, xfs without reflink on such a device, ….
    case notOnThisFileSystem(fileSystem: String, release: String)
    /// The file is DAX. Mainline refuses atomic writes on DAX inodes; with
    /// DAX, 8-byte stores and this library's pools are the atomic paths.
    case dax(release: String)
    /// `statx` itself failed (a seccomp filter, say), with this errno.
    case statxFailed(errno: Int32)
    /// The report was made without asking the kernel (an ``IOInfo`` built by
    /// hand). Every ``Mapping`` asks.
    case notQueried

    /// The kernel's atomic-write limits for one file, in bytes.
    public struct Limits: Sendable, Hashable {
        /// The smallest atomic write (`stx_atomic_write_unit_min`); writes are
        /// powers of two between this and ``unitMax``, naturally aligned.
        public var unitMin: Int
        /// The largest atomic write (`stx_atomic_write_unit_max`).
        public var unitMax: Int
        /// The largest atomic write that takes the fast (hardware) path
        /// (`stx_atomic_write_unit_max_opt`, Linux 6.16); nil when the kernel
        /// does not say (older kernels, or no such path: xfs on a device
        /// without atomic writes does all of them by copy-on-write).
        public var unitMaxOptimized: Int?
        /// The most iovec segments one atomic write may have
        /// (`stx_atomic_write_segments_max`).
        public var maxSegments: Int

        /// Creates a set of limits.
        public init(unitMin: Int, unitMax: Int, unitMaxOptimized: Int? = nil, maxSegments: Int) {
            self.unitMin = unitMin
            self.unitMax = unitMax
            self.unitMaxOptimized = unitMaxOptimized
            self.maxSegments = maxSegments
        }
    }

    /// The limits when the kernel offers atomic writes, else nil.
    public var limits: Limits? {
        if case .offered(let limits) = self { limits } else { nil }
    }

    /// Whether the kernel offers atomic writes to this file.
    public var isOffered: Bool { limits != nil }

    /// One line: the limits, or why there are none.
    public var description: String {
        switch self {
        case .offered(let l):
            "unit \(l.unitMin)..\(l.unitMax) bytes, optimized max "
                + (l.unitMaxOptimized.map { "\($0) bytes" } ?? "not reported")
                + ", \(l.maxSegments) segment\(l.maxSegments == 1 ? "" : "s") (RWF_ATOMIC; not for sealed files: CoW breaks the seal)"
        case .kernelTooOld(let release):
            "not offered: kernel \(release) predates STATX_WRITE_ATOMIC (Linux 6.11)"
        case .notOnThisFileSystem(let fileSystem, let release):
            "not offered: \(fileSystem) has none for this file (kernel \(release))"
        case .dax(let release):
            "not offered: the file is DAX, where the kernel refuses atomic writes (kernel \(release))"
        case .statxFailed(let errno):
            "unknown: statx failed (errno \(errno))"
        case .notQueried:
            "not queried"
        }
    }

    /// The running kernel's release (`uname -r`), e.g. `"6.1.0-28-amd64"`.
    public static let kernelRelease: String = {
        var names = utsname()
        guard uname(&names) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &names.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }()

    /// Whether a release string names Linux 6.11 or later, the first to
    /// report `STATX_WRITE_ATOMIC`. Unparsable releases count as new.
    package static func reportsAtomicWrite(release: String) -> Bool {
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard parts.count == 2 else { return true }
        return (parts[0], parts[1]) >= (6, 11)
    }

    /// Asks the kernel about the open file `fd`. `isDAX` says the caller
    /// already knows the file is DAX (a `MAP_SYNC` mapping, a device DAX).
    package static func of(_ fd: CInt, isDAX: Bool) -> KernelAtomicWrite {
        let release = kernelRelease
        let facts: clinux_statx_atomic_write
        switch Syscalls.statxAtomicWrite(fd) {
        case .success(let f): facts = f
        case .failure(let errno): return .statxFailed(errno: errno.rawValue)
        }
        if facts.mask & clinux_STATX_WRITE_ATOMIC != 0 && facts.unit_min > 0 {
            return .offered(Limits(
                unitMin: Int(facts.unit_min), unitMax: Int(facts.unit_max),
                unitMaxOptimized: facts.unit_max_opt > 0 ? Int(facts.unit_max_opt) : nil,
                maxSegments: Int(facts.segments_max)))
        }
        // A file system that does not know atomic writes leaves the mask
        // unset even on a new kernel (tmpfs does), so the mask alone cannot
        // tell an old kernel; the release can.
        if facts.mask & clinux_STATX_WRITE_ATOMIC == 0 && !reportsAtomicWrite(release: release) {
            return .kernelTooOld(release: release)
        }
        if isDAX || facts.attributes & clinux_STATX_ATTR_DAX != 0 { return .dax(release: release) }
        let fileSystem = (try? Syscalls.fileSystemTypeUninjected(fd).get()).map(FileSystemKind.name) ?? "this file system"
        return .notOnThisFileSystem(fileSystem: fileSystem, release: release)
    }
}
