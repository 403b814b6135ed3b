import CLinux
import Glibc
public import SystemPackage

extension SealedFile {
    /// Creates a file of `size` bytes that is fully allocated and fully
    /// written, makes it and its directory entry durable, and seals it.
    ///
    /// - On btrfs the file is made no-copy-on-write (`FS_NOCOW_FL`) while it
    ///   is still empty, as btrfs requires.
    /// - `fallocate` reserves the space up front (a full disk fails before any
    ///   writing); every byte is then written with zeros, because `fallocate`
    ///   leaves unwritten extents on ext4 and xfs.
    /// - The last path component is never followed if it is a symbolic link,
    ///   and an existing file is replaced only when `replaceExisting` is true.
    /// - If anything fails, the file this call created is removed again.
    ///
    /// - Parameters:
    ///   - path: Where to create the file.
    ///   - size: A positive multiple of the page size.
    ///   - permissions: The new file's mode (before the umask); owner
    ///     read-write (0600) unless asked otherwise.
    ///   - replaceExisting: Replace (truncate and rewrite) an existing file.
    ///   - progress: Called after each chunk written, and once at the end.
    /// - Returns: The report of sealing the new file.
    @discardableResult
    public static func create(
        at path: FilePath,
        size: Int,
        permissions: FilePermissions = .ownerReadWrite,
        replaceExisting: Bool = false,
        progress: ((SealProgress) -> Void)? = nil
    ) throws(PMemError) -> SealReport {
        guard size > 0, size % pageSize == 0 else {
            throw PMemError(.unalignedLength, "the size of a sealed file must be a positive multiple of the page size \(pageSize), not \(size)",
                            path: path, requiredAlignment: pageSize)
        }
        var st = stat()
        if lstat(path.string, &st) == 0 {
            if st.st_mode & S_IFMT == S_IFLNK {
                throw PMemError(.symbolicLink, "the path is a symbolic link; sealed files are never created through one", path: path)
            }
            if !replaceExisting {
                throw PMemError(.fileExists, "the file exists, and replacing it was not asked for (replaceExisting, or --replace for pmemctl)", path: path, errno: .fileExists)
            }
        }
        let flags = O_RDWR | O_CREAT | O_NOFOLLOW | (replaceExisting ? 0 : O_EXCL)
        let fd = try openFile(path, flags, mode_t(permissions.rawValue))
        do {
            defer { Syscalls.close(fd) }
            try allocateAndWrite(fd, size: size, path: path, progress: progress)
            try syncDirectory(of: path)
            return try seal(fd, path: path)
        } catch {
            _ = unlink(path.string)
            throw error
        }
    }

    private static func allocateAndWrite(
        _ fd: CInt, size: Int, path: FilePath, progress: ((SealProgress) -> Void)?
    ) throws(PMemError) {
        // A replaced file starts over: no old blocks, no old seal.
        if case .failure(let errno) = Syscalls.ftruncate(fd, 0) {
            throw PMemError.system(errno, "emptying the file", path: path)
        }
        if case .failure(let errno) = Syscalls.removexattr(fd, SealRecord.attributeName), errno != .notSupported {
            throw PMemError.system(errno, "removing the old seal", path: path)
        }
        if try fileSystemMagic(fd, path: path) == FileSystemKind.btrfs {
            try disableCopyOnWrite(fd, path: path)
        }
        switch Syscalls.fallocate(fd, mode: 0, offset: 0, length: size) {
        case .success, .failure(.notSupported), .failure(.notSupportedOnSocket): break
        case .failure(let errno):
            throw PMemError.system(errno, "allocating \(size) bytes (fallocate)", path: path)
        }
        let chunk = min(size, 1 << 20)
        let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        var written = 0
        progress?(SealProgress(bytesWritten: 0, totalBytes: size))
        while written < size {
            let n = min(chunk, size - written)
            if case .failure(let errno) = Syscalls.pwriteAll(fd, UnsafeRawBufferPointer(rebasing: zeros[0..<n]), at: written) {
                throw PMemError.system(errno, "writing the file's blocks", path: path)
            }
            written += n
            progress?(SealProgress(bytesWritten: written, totalBytes: size))
        }
        if case .failure(let errno) = Syscalls.fsync(fd) {
            throw PMemError.system(errno, "making the file's blocks durable (fsync)", path: path)
        }
    }

    private static func disableCopyOnWrite(_ fd: CInt, path: FilePath) throws(PMemError) {
        var attributes: CInt = 0
        if case .failure(let errno) = Syscalls.ioctl(fd, clinux_FS_IOC_GETFLAGS, &attributes) {
            throw PMemError.system(errno, "reading the file's attributes (btrfs no-CoW)", path: path)
        }
        attributes |= CInt(FS_NOCOW_FL)
        if case .failure(let errno) = Syscalls.ioctl(fd, clinux_FS_IOC_SETFLAGS, &attributes) {
            throw PMemError.system(errno, "making the file no-copy-on-write (btrfs)", path: path)
        }
    }

    /// Makes the new directory entry durable.
    private static func syncDirectory(of path: FilePath) throws(PMemError) {
        var directory = path
        directory.removeLastComponent()
        if directory.isEmpty { directory = "." }
        let fd = try openFile(directory, O_RDONLY | O_DIRECTORY)
        defer { Syscalls.close(fd) }
        if case .failure(let errno) = Syscalls.fsync(fd) {
            throw PMemError.system(errno, "making the directory entry durable (fsync of the directory)", path: directory)
        }
    }
}
