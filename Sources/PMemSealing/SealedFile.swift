public import PMemSystem
public import PMemMapping
package import CLinux
import Glibc
public import SystemPackage

/// A block-map-immutable ("sealed") file: fully allocated, every extent
/// written, none shared, no holes, and a seal recording its size and extent
/// map that this library checks on every open.
///
/// Only for such a file is a userspace cache flush of a mapped range enough
/// for durability: nothing in the file system has to change (allocate, convert
/// an unwritten extent, break a reflink) when the mapping is written. This is
/// the `S_IOMAP_IMMUTABLE` proposal of 2017, done in user space: the kernel
/// does not enforce the seal, so the library records it (extended attribute
/// `user.swift-pmem.seal`) and verifies it with `FIEMAP` at every open.
///
/// ```swift
/// try SealedFile.create(at: "/mnt/pmem/pool", size: 64 << 20)
/// let file = try SealedFile.open("/mnt/pmem/pool")
/// let map = try file.map()
/// ```
///
/// An open `SealedFile` owns its descriptor; mappings made from it stay valid
/// after it is gone.
public struct SealedFile: ~Copyable {
    package let descriptor: CInt
    /// The access the file was opened with, and the default for ``map(access:fileRange:requiredGranularity:)``.
    public let access: MappingAccess
    /// The path the file was opened from.
    public let path: FilePath
    /// What the open found: size, file system, extents (verified or not).
    public let report: SealReport

    /// The file's verified physical extents, for DMA users; empty where
    /// extents cannot be verified (tmpfs). See ``PhysicalExtent`` for the caveat.
    public var physicalExtents: [PhysicalExtent] { report.physicalExtents }

    /// Opens a sealed file, checking the seal: the record is intact, the size
    /// is the sealed size, every extent is written, unshared and in place,
    /// and the extent map is the one recorded at sealing. A symbolic link at
    /// the last component is refused (``/PMemSystem/PMemError/Code/symbolicLink``): a
    /// link swapped under a writer would redirect its stores.
    ///
    /// - Throws: ``/PMemSystem/PMemError`` with ``/PMemSystem/PMemError/Code/notSealed``,
    ///   ``/PMemSystem/PMemError/Code/sealRecordCorrupt``, ``/PMemSystem/PMemError/Code/sizeChanged``,
    ///   ``/PMemSystem/PMemError/Code/extentMapChanged`` or the extent problem found.
    public static func open(_ path: FilePath, access: MappingAccess = .readWrite) throws(PMemError) -> SealedFile {
        let fd = try openFile(path, (access == .readWrite ? O_RDWR : O_RDONLY) | O_NOFOLLOW)
        do {
            let report = try checkSeal(fd, record: readRecord(fd, path: path), path: path)
            return SealedFile(descriptor: fd, access: access, path: path, report: report)
        } catch {
            Syscalls.close(fd)
            throw error
        }
    }

    /// Maps the sealed file (see ``/PMemMapping/Mapping/init(path:access:fileRange:requiredGranularity:)-(FilePath,_,_,_)``).
    /// The mapping is made from the descriptor whose seal was checked; its
    /// access defaults to the access the file was opened with.
    public func map(
        access: MappingAccess? = nil,
        fileRange: Range<Int>? = nil,
        requiredGranularity: StoreGranularity = .page
    ) throws(PMemError) -> Mapping {
        try map(access: access, fileRange: fileRange, requiredGranularity: requiredGranularity, interposedBy: nil)
    }

    /// ``map(access:fileRange:requiredGranularity:)``, with the mapping's
    /// persistence calls wrapped by `interposer` when it is given.
    package func map(
        access: MappingAccess? = nil,
        fileRange: Range<Int>? = nil,
        requiredGranularity: StoreGranularity = .page,
        interposedBy interposer: PersistenceCalls.Interposer?
    ) throws(PMemError) -> Mapping {
        // The user's bytes only: a seal kept in the last page is never mapped.
        if let fileRange, fileRange.lowerBound < 0 || fileRange.upperBound > report.size {
            throw PMemError(.outOfBounds, "the range \(fileRange) lies outside the file's \(report.size) usable bytes", path: path,
                            fileOffset: fileRange.lowerBound >= 0 ? fileRange.lowerBound : nil)
        }
        let fd = try Syscalls.duplicate(descriptor, path: path)
        return try Mapping(ownedDescriptor: fd, path: path, access: access ?? self.access, fileRange: fileRange ?? 0..<report.size,
                           requiredGranularity: requiredGranularity, interposer: interposer)
    }

    deinit { Syscalls.close(descriptor) }
}

extension SealedFile {
    /// The page size: sealed files are a whole number of pages, so that every
    /// byte of the file can be mapped.
    package static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

    package static func openFile(_ path: FilePath, _ flags: CInt, _ mode: mode_t = 0) throws(PMemError) -> CInt {
        switch Syscalls.open(path, flags, mode) {
        case .success(let fd): return fd
        case .failure(let errno): throw PMemError.system(errno, "opening the file", path: path)
        }
    }

    /// The size of a regular file, checked to be sealable (non-empty, whole pages).
    package static func sealableSize(_ fd: CInt, path: FilePath) throws(PMemError) -> Int {
        let st = try Syscalls.status(fd, path: path)
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw PMemError(.notARegularFile, "only regular files can be sealed", path: path)
        }
        let size = Int(st.st_size)
        guard size > 0 else { throw PMemError(.emptyFile, "an empty file cannot be sealed", path: path) }
        guard size % pageSize == 0 else {
            throw PMemError(.unalignedLength, "the file size \(size) is not a multiple of the page size \(pageSize), so its last page could not be mapped whole",
                            path: path, requiredAlignment: pageSize)
        }
        return size
    }

    /// The name of the file system `path` lives on (`"ext4"`, `"xfs"`,
    /// `"btrfs"`, `"tmpfs"`, …): it decides what sealing can verify.
    public static func fileSystem(of path: FilePath) throws(PMemError) -> String {
        let fd = try openFile(path, O_RDONLY)
        defer { Syscalls.close(fd) }
        return FileSystemKind.name(try fileSystemMagic(fd, path: path))
    }

    package static func fileSystemMagic(_ fd: CInt, path: FilePath) throws(PMemError) -> Int {
        switch Syscalls.fileSystemType(fd) {
        case .success(let magic): return magic
        case .failure(let errno): throw PMemError.system(errno, "identifying the file system (statfs)", path: path)
        }
    }

    /// Reads and checks the extents of an open file: the report, the
    /// normalized map (nil where FIEMAP is missing) and its digest.
    package static func inspectExtents(_ fd: CInt, size: Int, path: FilePath) throws(PMemError) -> (SealReport, ExtentMap?, Int) {
        let magic = try fileSystemMagic(fd, path: path)
        let name = FileSystemKind.name(magic)
        if magic == FileSystemKind.btrfs, try Syscalls.attributes(fd, path: path) & CInt(FS_NOCOW_FL) == 0 {
            throw PMemError(.copyOnWrite, "the file is copy-on-write on btrfs, so every write would move its blocks; only files made no-CoW (FS_NOCOW_FL) while still empty can be sealed: create it with SealedFile.create", path: path)
        }
        guard let map = try ExtentMap.read(fd, size: size, path: path) else {
            let report = SealReport(
                size: size, fileSystem: name,
                extents: .unverifiable(reason: "extents cannot be verified here: \(name) does not support FIEMAP, so its block map cannot be listed or checked"),
                isSealed: false)
            return (report, nil, magic)
        }
        try map.check(size: size, path: path)
        let report = SealReport(size: size, fileSystem: name, extents: .verified(map.extents), isSealed: false)
        return (report, map, magic)
    }

    /// The seal record of an open file, or nil when it has none: the
    /// extended attribute if there is one, else a record in the last page.
    /// A last-page record that is pending (sealing was interrupted) or that
    /// was written for another inode (the file is a copy) is not a seal.
    package static func readRecord(_ fd: CInt, path: FilePath) throws(PMemError) -> SealRecord? {
        switch Syscalls.getxattr(fd, SealRecord.attributeName) {
        case .success(let bytes?): return try SealRecord.decode(bytes, placement: .extendedAttribute, path: path)
        case .success(nil), .failure(.notSupported):
            break // no extended-attribute seal (or no user xattrs here): look in the last page
        case .failure(.outOfRange):
            throw PMemError(.sealRecordCorrupt, "the seal record (\(SealRecord.attributeName)) is larger than any record this library writes", path: path)
        case .failure(let errno): throw PMemError.system(errno, "reading the seal record", path: path)
        }
        let st = try Syscalls.status(fd, path: path)
        guard st.st_mode & S_IFMT == S_IFREG,
              let record = try readLastPageRecord(fd, size: Int(st.st_size), path: path) else { return nil }
        if record.pending {
            throw PMemError(.notSealed, "sealing this file was interrupted (its last page holds a pending seal); seal it again, or unseal it to remove that page", path: path)
        }
        guard record.inode == UInt64(st.st_ino) else {
            throw PMemError(.notSealed, "the seal in the file's last page was made for inode \(record.inode), and this file is inode \(st.st_ino): it is a copy of a sealed file, and a copy is not sealed; seal it again", path: path)
        }
        return record
    }

    /// Everything ``open(_:access:)-(FilePath,_)`` checks, on an open descriptor whose
    /// seal record (if any) has been read.
    package static func checkSeal(_ fd: CInt, record: SealRecord?, path: FilePath) throws(PMemError) -> SealReport {
        guard let record else {
            throw PMemError(.notSealed, "the file is not sealed; seal it with SealedFile.seal (or create it with SealedFile.create)", path: path)
        }
        let size = Int(try Syscalls.status(fd, path: path).st_size)
        guard size == record.fileSize else {
            throw PMemError(.sizeChanged, "the file was sealed at \(record.fileSize) bytes and is now \(size) bytes: it was truncated or extended since sealing, so its block map changed; unseal it, restore its contents and seal it again",
                            path: path, fileOffset: min(size, record.fileSize))
        }
        var (report, map, _) = try inspectExtents(fd, size: size, path: path)
        report.isSealed = true
        report.size = record.usableSize
        report.placement = record.placement
        if record.extentsVerified {
            guard let map else {
                throw PMemError(.notSupported, "the seal was made with verified extents, but this file system cannot list them now (no FIEMAP); the seal cannot be checked here", path: path)
            }
            let digest = map.digest(size: size)
            guard digest == record.digest, map.extents.count == record.extentCount else {
                throw PMemError(.extentMapChanged, "the file's extent map is not the one recorded at sealing (\(record.extentCount) extents, digest \(record.digest); now \(map.extents.count) extents, digest \(digest)): its blocks were moved (defragmented, copied, restored, or rewritten out of place by a kernel atomic write, RWF_ATOMIC) since sealing",
                                path: path)
            }
        }
        return report
    }
}
