import Glibc
public import SystemPackage

extension SealedFile {
    /// Seals an existing file: checks that it is a non-empty regular file of
    /// whole pages whose extents cover it with written, unshared blocks, then
    /// records the seal (size and extent-map digest) with the file and makes
    /// the record durable.
    ///
    /// On a file system without `FIEMAP` (tmpfs) the seal is recorded as
    /// unverified and the report says so.
    ///
    /// - Returns: What was found; ``SealReport/extents`` says whether the
    ///   extents were verified.
    /// - Throws: The first problem found, with its file offset
    ///   (``PMemError/Code/hole``, ``PMemError/Code/unwrittenExtent``,
    ///   ``PMemError/Code/sharedExtent``, …).
    @discardableResult
    public static func seal(_ path: FilePath) throws(PMemError) -> SealReport {
        let fd = try openFile(path, O_RDONLY | O_NOFOLLOW)
        defer { Syscalls.close(fd) }
        return try seal(fd, path: path)
    }

    static func seal(_ fd: CInt, path: FilePath) throws(PMemError) -> SealReport {
        let size = try sealableSize(fd, path: path)
        // Write back dirty data (and its allocation) before looking at extents.
        try Syscalls.sync(fd, path: path, "writing the file back before sealing")
        var (report, map, magic) = try inspectExtents(fd, size: size, path: path)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let record = SealRecord(
            extentsVerified: map != nil, fileSize: size, extentCount: map?.extents.count ?? 0,
            digest: map?.digest(size: size) ?? 0, fileSystemMagic: UInt32(truncatingIfNeeded: magic),
            sealedAt: Int64(now.tv_sec))
        switch Syscalls.setxattr(fd, SealRecord.attributeName, record.encoded()) {
        case .success: break
        case .failure(.notSupported):
            throw PMemError(.notSupported, "this file system cannot store the seal record: it has no user extended attributes (tmpfs has them from Linux 6.6 on)",
                            path: path, errno: .notSupported)
        case .failure(let errno):
            throw PMemError.system(errno, "recording the seal (extended attribute \(SealRecord.attributeName))", path: path)
        }
        #if DEBUG
        // A planted bug (debug builds only, for scripts/power-cut):
        // SWIFT_PMEM_MUTATE=no-seal-fsync leaves the seal record unsynced, so
        // a new file is linked (linkat) before its seal is durable.
        let planted = getenv("SWIFT_PMEM_MUTATE").map { String(cString: $0) == "no-seal-fsync" } ?? false
        #else
        let planted = false
        #endif
        if !planted { try Syscalls.sync(fd, path: path, "making the seal durable") }
        report.isSealed = true
        return report
    }

    /// Checks a file's extents and, if it is sealed, its seal, without
    /// mapping it. A file that is not sealed gets a report with
    /// ``SealReport/isSealed`` false when its extents would pass sealing.
    ///
    /// - Throws: The first problem found, as ``open(_:access:)`` would.
    public static func verify(_ path: FilePath) throws(PMemError) -> SealReport {
        let fd = try openFile(path, O_RDONLY | O_NOFOLLOW)
        defer { Syscalls.close(fd) }
        if let record = try readRecord(fd, path: path) {
            return try checkSeal(fd, record: record, path: path)
        }
        let size = try sealableSize(fd, path: path)
        return try inspectExtents(fd, size: size, path: path).0
    }

    /// Removes the seal and makes its removal durable. The contents and the
    /// block map are untouched. Unsealing a file that is not sealed does nothing.
    public static func unseal(_ path: FilePath) throws(PMemError) {
        let fd = try openFile(path, O_RDONLY | O_NOFOLLOW)
        defer { Syscalls.close(fd) }
        if case .failure(let errno) = Syscalls.removexattr(fd, SealRecord.attributeName) {
            if errno == .notSupported { return }
            throw PMemError.system(errno, "removing the seal", path: path)
        }
        try Syscalls.sync(fd, path: path, "making the unseal durable")
    }
}
