public import PMemSystem
import PMemMapping
import CLinux
import Glibc
public import SystemPackage

extension SealedFile {
    /// Creates a file of `size` bytes that is fully allocated and fully
    /// written, seals it, and only then gives it its name.
    ///
    /// - The file is built without a name (`O_TMPFILE`) in the target's
    ///   directory and linked into place when it is complete and sealed, so a
    ///   failure (or a crash) at any step leaves the path as it was: nothing
    ///   half-written appears, and a file being replaced survives intact.
    /// - On btrfs the file is made no-copy-on-write (`FS_NOCOW_FL`) while it
    ///   is still empty, as btrfs requires.
    /// - `fallocate` reserves the space up front (a full disk fails before any
    ///   writing). Every byte is then written with zeros, because `fallocate`
    ///   leaves unwritten extents on ext4 and xfs; except on tmpfs, which has
    ///   none, and where the file system and device write zeroes themselves
    ///   (`FALLOC_FL_WRITE_ZEROES`, Linux 6.17 on).
    /// - The last path component is never followed if it is a symbolic link;
    ///   an existing regular file is replaced (atomically, by `rename`) only
    ///   when `replaceExisting` is true; anything else there is refused.
    /// - The file, its seal and the directory entry are durable on return.
    ///
    /// - Parameters:
    ///   - path: Where to create the file.
    ///   - size: A positive multiple of the page size.
    ///   - permissions: The new file's mode (before the umask); owner
    ///     read-write (0600) unless asked otherwise.
    ///   - replaceExisting: Replace an existing regular file.
    ///   - progress: Called before writing, after each MiB written (or once,
    ///     where nothing is written from user space), and at the end.
    ///   - placement: Where the seal record goes. ``SealPlacement/automatic``
    ///     picks the extended attribute, or the last page (one page more on
    ///     disk) where the file system has no user extended attributes; the
    ///     choice is made, and an impossible one refused, before any byte is written.
    /// - Returns: The report of sealing the new file.
    @discardableResult
    public static func create(
        at path: FilePath,
        size: Int,
        permissions: FilePermissions = .ownerReadWrite,
        replaceExisting: Bool = false,
        placement: SealPlacement = .automatic,
        progress: ((SealProgress) -> Void)? = nil
    ) throws(PMemError) -> SealReport {
        try create(at: path, size: size, permissions: permissions, replaceExisting: replaceExisting,
                   placement: placement, progress: progress, initialize: nil)
    }

    /// ``create(at:size:permissions:replaceExisting:placement:progress:)-(FilePath,_,_,_,_,_)``, with
    /// `initialize` called on the written, still unnamed file before it is
    /// sealed (pools write their header there, so that a pool file never
    /// appears without one).
    package static func create(
        at path: FilePath, size: Int, permissions: FilePermissions, replaceExisting: Bool,
        placement requested: SealPlacement,
        progress: ((SealProgress) -> Void)?, initialize: ((CInt) throws(PMemError) -> Void)?
    ) throws(PMemError) -> SealReport {
        guard size > 0, size % pageSize == 0 else {
            throw PMemError(.unalignedLength, "the size of a sealed file must be a positive multiple of the page size \(pageSize), not \(size)",
                            path: path, requiredAlignment: pageSize)
        }
        try checkTarget(path, replacing: replaceExisting)
        var directory = path
        directory.removeLastComponent()
        if directory.isEmpty { directory = "." }

        let fd: CInt
        switch Syscalls.openAnonymous(in: directory, mode_t(permissions.rawValue)) {
        case .success(let value): fd = value
        case .failure(let errno) where errno == .notSupported || errno == .isDirectory:
            throw PMemError(.notSupported, "this file system cannot create unnamed files (O_TMPFILE), which creating a sealed file needs so that a failure leaves nothing half-made; use ext4, xfs, btrfs or tmpfs",
                            path: directory, errno: errno)
        case .failure(let errno):
            throw PMemError.system(errno, "creating the new file in its directory (O_TMPFILE)", path: directory)
        }
        defer { Syscalls.close(fd) }
        // Everything this file system must offer is found out before the
        // first byte is written: where the seal can live, and (in
        // allocateAndWrite) that the space is there.
        let placement = try resolvePlacement(requested, fd, path: path)
        let total = placement == .lastPage ? size + pageSize : size
        try allocateAndWrite(fd, size: total, path: path, progress: progress)
        try initialize?(fd)
        let report = try seal(fd, path: path, placement: placement, pageReserved: true)
        let replaced = try publish(fd, at: path, in: directory, replacing: replaceExisting)
        #if PMEM_TEST_HOOKS
        // A planted bug, builds with test hooks only, for showing that scripts/power-cut
        // catches it: SWIFT_PMEM_MUTATE=no-directory-fsync returns before the
        // new name is durable.
        if let m = getenv("SWIFT_PMEM_MUTATE"), String(cString: m) == "no-directory-fsync" { return report }
        #endif
        do {
            try syncDirectory(directory)
        } catch {
            guard !replaced else {
                var error = error
                error.message = "the new file is in place of the old one, but \(error.message); after a crash the path may hold either"
                throw error
            }
            // A new name whose durability failed: take it back, so that a
            // failed create leaves the path as it was.
            _ = Syscalls.withoutInjectedFault { Syscalls.unlink(path) }
            throw error
        }
        return report
    }

    /// Refuses a symbolic link, an existing file (unless replacing), and
    /// anything but a regular file.
    private static func checkTarget(_ path: FilePath, replacing: Bool) throws(PMemError) {
        switch Syscalls.lstat(path) {
        case .failure(let errno):
            throw PMemError.system(errno, "looking at the path", path: path)
        case .success(nil):
            return
        case .success(let st?):
            let type = st.st_mode & S_IFMT
            if type == S_IFLNK {
                throw PMemError(.symbolicLink, "the path is a symbolic link; sealed files are never created through one", path: path)
            }
            if !replacing {
                throw PMemError(.fileExists, "the file exists, and replacing it was not asked for (replaceExisting, or --replace for pmemctl)",
                                path: path, errno: .fileExists)
            }
            if type != S_IFREG {
                throw PMemError(.notARegularFile, "only a regular file can be replaced by a sealed file", path: path)
            }
        }
    }

    /// Allocates every byte of the file, zeroed and written (no hole, no
    /// unwritten extent), in the cheapest way the file system offers:
    ///
    /// - tmpfs: `fallocate` alone. Its pages are memory, allocated and
    ///   charged by the call and zero when first touched; tmpfs has no
    ///   unwritten extents to convert.
    /// - A file system and device that can write zeroes themselves
    ///   (`FALLOC_FL_WRITE_ZEROES`, Linux 6.17 on): one call, no bytes copied
    ///   from user space. The seal then checks every extent, as for any file.
    /// - Elsewhere: `fallocate` (a full disk fails before any writing), then
    ///   zeros written over every byte, because `fallocate` leaves unwritten
    ///   extents on ext4, xfs and btrfs.
    private static func allocateAndWrite(
        _ fd: CInt, size: Int, path: FilePath, progress: ((SealProgress) -> Void)?
    ) throws(PMemError) {
        let magic = try fileSystemMagic(fd, path: path)
        if magic == FileSystemKind.btrfs {
            let attributes = try Syscalls.attributes(fd, path: path)
            try Syscalls.setAttributes(fd, attributes | CInt(FS_NOCOW_FL), path: path)
        }
        progress?(SealProgress(bytesWritten: 0, totalBytes: size))
        if magic != FileSystemKind.tmpfs {
            switch Syscalls.fallocate(fd, mode: fallocWriteZeroes, offset: 0, length: size) {
            case .success:
                progress?(SealProgress(bytesWritten: size, totalBytes: size))
                return
            // Older kernels (an unknown mode), and file systems or devices
            // without it.
            case .failure(.notSupported), .failure(.invalidArgument): break
            case .failure(let errno):
                throw PMemError.system(errno, "allocating \(size) zeroed bytes (fallocate, FALLOC_FL_WRITE_ZEROES)", path: path)
            }
        }
        switch Syscalls.fallocate(fd, mode: 0, offset: 0, length: size) {
        case .success where magic == FileSystemKind.tmpfs:
            progress?(SealProgress(bytesWritten: size, totalBytes: size))
            return
        case .success, .failure(.notSupported): break
        case .failure(let errno):
            throw PMemError.system(errno, "allocating \(size) bytes (fallocate)", path: path)
        }
        try writeZeros(fd, size: size, path: path, progress: progress)
        // seal() makes the blocks durable (fsync) before it looks at them.
    }

    /// `FALLOC_FL_WRITE_ZEROES` (<linux/falloc.h>, Linux 6.17): allocate
    /// written, zeroed extents, zeroed by the device. Debian 12's headers
    /// predate it.
    private static let fallocWriteZeroes: CInt = 0x80

    /// Writes zeros over the whole file, a MiB at a time.
    private static func writeZeros(_ fd: CInt, size: Int, path: FilePath, progress: ((SealProgress) -> Void)?) throws(PMemError) {
        let chunk = min(size, 1 << 20)
        let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        var written = 0
        while written < size {
            let n = min(chunk, size - written)
            if case .failure(let errno) = Syscalls.pwriteAll(fd, UnsafeRawBufferPointer(rebasing: zeros[0..<n]), at: written) {
                throw PMemError.system(errno, "writing the file's blocks", path: path)
            }
            written += n
            progress?(SealProgress(bytesWritten: written, totalBytes: size))
        }
    }

    /// Gives the finished, sealed file its name: a link where nothing is, or
    /// a link under a temporary name and a `rename` over the file replaced.
    /// Returns whether a file was replaced.
    private static func publish(_ fd: CInt, at path: FilePath, in directory: FilePath, replacing: Bool) throws(PMemError) -> Bool {
        switch Syscalls.linkAnonymous(fd, to: path) {
        case .success:
            return false
        case .failure(.fileExists) where replacing:
            let temporary = directory.appending(".\(path.lastComponent?.string ?? "sealed").swift-pmem-\(UInt32.random(in: 0...UInt32.max))")
            if case .failure(let errno) = Syscalls.linkAnonymous(fd, to: temporary) {
                throw PMemError.system(errno, "naming the new file", path: temporary)
            }
            if case .failure(let errno) = Syscalls.rename(temporary, path) {
                _ = Syscalls.unlink(temporary)
                throw PMemError.system(errno, "putting the new file in place of the old one (rename)", path: path)
            }
            return true
        case .failure(.fileExists):
            throw PMemError(.fileExists, "a file appeared at the path while the sealed file was being made; it was left alone",
                            path: path, errno: .fileExists)
        case .failure(let errno):
            throw PMemError.system(errno, "naming the new file (linkat)", path: path)
        }
    }

    /// Makes the new directory entry durable.
    private static func syncDirectory(_ directory: FilePath) throws(PMemError) {
        let fd = try openFile(directory, O_RDONLY | O_DIRECTORY)
        defer { Syscalls.close(fd) }
        try Syscalls.sync(fd, path: directory, "making the directory entry durable")
    }
}
