public import PMemSystem
import PMemMapping
import Glibc
public import SystemPackage

extension SealedFile {
    /// Seals an existing file: checks that it is a non-empty regular file of
    /// whole pages whose extents cover it with written, unshared blocks, then
    /// records the seal (size and extent-map digest) with the file and makes
    /// the record durable.
    ///
    /// On a file system without `FIEMAP` (tmpfs) the seal is recorded as
    /// unverified and the report says so. Where the file system has no user
    /// extended attributes (tmpfs before Linux 6.6), or when `placement` is
    /// ``SealPlacement/lastPage``, the record goes into one page appended to
    /// the file; the file's usable size (``SealReport/size``) stays what it was.
    ///
    /// - Returns: What was found; ``SealReport/extents`` says whether the
    ///   extents were verified.
    /// - Throws: The first problem found, with its file offset
    ///   (``/PMemSystem/PMemError/Code/hole``, ``/PMemSystem/PMemError/Code/unwrittenExtent``,
    ///   ``/PMemSystem/PMemError/Code/sharedExtent``, …).
    @discardableResult
    public static func seal(_ path: FilePath, placement: SealPlacement = .automatic) throws(PMemError) -> SealReport {
        let fd = try openFile(path, O_RDWR | O_NOFOLLOW)
        defer { Syscalls.close(fd) }
        return try seal(fd, path: path, placement: resolvePlacement(placement, fd, path: path), pageReserved: false)
    }

    /// Seals an open file with a resolved placement. `pageReserved`: the
    /// file's last page was written for the record (a new file from `create`).
    package static func seal(_ fd: CInt, path: FilePath, placement: SealPlacement, pageReserved: Bool) throws(PMemError) -> SealReport {
        var size = try sealableSize(fd, path: path)
        let inode = UInt64(try Syscalls.status(fd, path: path).st_ino)
        if placement == .lastPage, !pageReserved {
            size = try reserveLastPage(fd, size: size, inode: inode, path: path)
        } else if placement == .extendedAttribute, let record = try readLastPageRecord(fd, size: size, path: path),
                  record.fileSize == size {
            throw PMemError(.invalidArgument, "the file keeps its seal in its last page; unseal it first (which removes that page) to seal it with an extended attribute", path: path)
        }
        // Write back dirty data (and its allocation) before looking at extents.
        try Syscalls.sync(fd, path: path, "writing the file back before sealing")
        var (report, map, magic) = try inspectExtents(fd, size: size, path: path)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let record = SealRecord(
            placement: placement, extentsVerified: map != nil, fileSize: size, extentCount: map?.extents.count ?? 0,
            digest: map?.digest(size: size) ?? 0, fileSystemMagic: UInt32(truncatingIfNeeded: magic),
            sealedAt: Int64(now.tv_sec), inode: placement == .lastPage ? inode : 0)
        if placement == .lastPage {
            // An older extended-attribute seal would win over this one.
            _ = Syscalls.removexattr(fd, SealRecord.attributeName)
            try writeLastPageRecord(fd, record, path: path, "making the seal durable")
        } else {
            switch Syscalls.setxattr(fd, SealRecord.attributeName, record.encoded()) {
            case .success: break
            case .failure(.notSupported):
                throw PMemError(.notSupported, "this file system cannot store the seal record: it has no user extended attributes (tmpfs has them from Linux 6.6 on)",
                                path: path, errno: .notSupported)
            case .failure(let errno):
                throw PMemError.system(errno, "recording the seal (extended attribute \(SealRecord.attributeName))", path: path)
            }
            #if PMEM_TEST_HOOKS
            // A planted bug (builds with test hooks only, for scripts/power-cut):
            // SWIFT_PMEM_MUTATE=no-seal-fsync leaves the seal record unsynced, so
            // a new file is linked (linkat) before its seal is durable.
            let planted = getenv("SWIFT_PMEM_MUTATE").map { String(cString: $0) == "no-seal-fsync" } ?? false
            #else
            let planted = false
            #endif
            if !planted { try Syscalls.sync(fd, path: path, "making the seal durable") }
        }
        report.isSealed = true
        report.size = record.usableSize
        report.placement = placement
        return report
    }

    /// Checks a file's extents and, if it is sealed, its seal, without
    /// mapping it. A file that is not sealed gets a report with
    /// ``SealReport/isSealed`` false when its extents would pass sealing.
    ///
    /// - Throws: The first problem found, as ``open(_:access:)-(FilePath,_)`` would.
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
    /// block map are untouched (a seal kept in the file's last page takes
    /// that page with it). Unsealing a file that is not sealed does nothing.
    public static func unseal(_ path: FilePath) throws(PMemError) {
        let fd = try openFile(path, O_RDWR | O_NOFOLLOW)
        defer { Syscalls.close(fd) }
        switch Syscalls.removexattr(fd, SealRecord.attributeName) {
        case .success:
            try Syscalls.sync(fd, path: path, "making the unseal durable")
        case .failure(.notSupported): break
        case .failure(let errno): throw PMemError.system(errno, "removing the seal", path: path)
        }
        try removeLastPage(fd, path: path)
    }
}
