package import PMemSystem
import PMemMapping
import Glibc
package import SystemPackage

/// The seal record's second home: the file's last page, for file systems
/// without user extended attributes (see "Sealed-File Format").
extension SealedFile {
    /// The placement to use on `fd`, decided before anything is written:
    /// `.automatic` becomes `.lastPage` where user extended attributes cannot
    /// be stored, and `.extendedAttribute` is refused there.
    package static func resolvePlacement(_ requested: SealPlacement, _ fd: CInt, path: FilePath) throws(PMemError) -> SealPlacement {
        if requested == .lastPage { return .lastPage }
        switch Syscalls.getxattr(fd, SealRecord.attributeName) {
        case .failure(.notSupported):
            guard requested == .automatic else {
                throw PMemError(.notSupported, "this file system cannot store the seal record in an extended attribute: it has no user extended attributes (tmpfs has them from Linux 6.6 on); seal with the last-page placement instead",
                                path: path, errno: .notSupported)
            }
            return .lastPage
        default:
            // Supported (present or absent); other failures surface when the
            // record is written.
            return .extendedAttribute
        }
    }

    /// The record in the last page of a file of `size` bytes, if the page
    /// begins like one (magic and version 2); nil when it is user data.
    package static func readLastPageRecord(_ fd: CInt, size: Int, path: FilePath) throws(PMemError) -> SealRecord? {
        guard size >= 2 * pageSize else { return nil }
        var bytes = [UInt8](repeating: 0, count: SealRecord.size)
        let read = bytes.withUnsafeMutableBytes { Syscalls.preadAll(fd, $0, at: size - pageSize) }
        switch read {
        case .failure(let errno): throw PMemError.system(errno, "reading the file's last page (its seal record, if any)", path: path)
        case .success(let n) where n < SealRecord.size: return nil
        case .success: break
        }
        guard SealRecord.looksLikeLastPageRecord(bytes) else { return nil }
        return try SealRecord.decode(bytes, placement: .lastPage, path: path)
    }

    /// Writes `record` at the start of the last page and makes it durable.
    package static func writeLastPageRecord(_ fd: CInt, _ record: SealRecord, path: FilePath, _ what: String) throws(PMemError) {
        let bytes = record.encoded()
        if case .failure(let errno) = bytes.withUnsafeBytes({ Syscalls.pwriteAll(fd, $0, at: record.fileSize - pageSize) }) {
            throw PMemError.system(errno, what, path: path)
        }
        try Syscalls.sync(fd, path: path, what)
    }

    /// The page that will hold the seal: the existing last page when it
    /// already holds a last-page record for this size (an interrupted seal,
    /// a re-seal, a copy being sealed again), else a new page appended with a
    /// *pending* record, durable before the extents are read, so that a
    /// crash mid-seal leaves a file that says "sealing was interrupted" and
    /// that `seal` or `unseal` can finish or undo. Returns the whole size.
    package static func reserveLastPage(_ fd: CInt, size: Int, inode: UInt64, path: FilePath) throws(PMemError) -> Int {
        if let existing = try readLastPageRecord(fd, size: size, path: path), existing.fileSize == size {
            return size
        }
        let total = size + pageSize
        let page = [UInt8](repeating: 0, count: pageSize)
        if case .failure(let errno) = page.withUnsafeBytes({ Syscalls.pwriteAll(fd, $0, at: size) }) {
            throw PMemError.system(errno, "appending the page that holds the seal", path: path)
        }
        let pending = SealRecord(placement: .lastPage, extentsVerified: false, fileSize: total, extentCount: 0, digest: 0,
                                 fileSystemMagic: 0, sealedAt: 0, inode: inode, pending: true)
        try writeLastPageRecord(fd, pending, path: path, "recording that sealing has begun")
        return total
    }

    /// Removes a last-page seal: the page goes, the user's bytes stay.
    package static func removeLastPage(_ fd: CInt, path: FilePath) throws(PMemError) {
        let size = Int(try Syscalls.status(fd, path: path).st_size)
        guard let record = try? readLastPageRecord(fd, size: size, path: path), record.fileSize == size else { return }
        if case .failure(let errno) = Syscalls.ftruncate(fd, record.usableSize) {
            throw PMemError.system(errno, "removing the page that holds the seal", path: path)
        }
        try Syscalls.sync(fd, path: path, "making the unseal durable")
    }
}
