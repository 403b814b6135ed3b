public import PMemSystem
import CPMem2
import Glibc
public import SystemPackage

/// A file (or DAX device) mapped directly into the process with libpmem2.
///
/// A `Mapping` owns the mapping: it is `~Copyable`, and its `deinit` unmaps
/// the memory and closes its descriptor. Offsets in its API are relative to
/// the start of the mapping; every range is bounds-checked.
///
/// ```swift
/// let map = try Mapping(path: "/dev/shm/counter")
/// try map.store(UInt64(42), at: 0)
/// try map.persist(0..<8)
/// ```
///
/// Whether ``persist(_:)`` makes stores durable depends on where the file
/// lives; ``ioInfo`` says (see ``PersistenceDomain``).
///
/// Off DAX (page granularity, where a persist is an `msync`), mapping drops
/// the file's clean cached pages and turns off read-ahead for the mapping's
/// faults, so that the page cache holds the file in single pages and a
/// persist writes back only the pages stored to, not the large folio (up to
/// 2 MiB on xfs) around them. Reads through the mapping then fault page by
/// page.
///
/// Thread safety: the persistence calls may run concurrently from any thread.
/// The bytes themselves are shared memory: coordinate concurrent stores to the
/// same bytes yourself.
public struct Mapping: ~Copyable, @unchecked Sendable {
    package let source: OpaquePointer
    package let descriptor: CInt
    /// The start of the mapped memory.
    package let base: UnsafeMutableRawPointer
    /// The mapping's persistence functions, chosen once: libpmem2's for its
    /// granularity, a simulated domain's (crash testing: PMemCrashTesting
    /// maps with `routedTo:`), or either wrapped by a
    /// `PersistenceCalls.Interposer` (counting).
    package let calls: PersistenceCalls

    /// The path the mapping was opened from, when it was opened by path.
    public let path: FilePath?
    /// The number of mapped bytes.
    public let count: Int
    /// The offset in the file where the mapping starts.
    public let fileOffset: Int
    /// Whether the mapping may be written.
    public let access: MappingAccess
    /// The store granularity of the mapping, chosen by libpmem2's rules (``StoreGranularity``).
    public let storeGranularity: StoreGranularity
    /// Whether the file supports `MAP_SYNC`, that is, lives on a DAX file system
    /// where the mapping's block map is synchronized at fault time.
    public let isMapSync: Bool
    /// Whether the mapping is of a device-DAX character device rather than a file.
    package let isDeviceDAX: Bool
    /// The device DAX's device number (`st_rdev`), for its deep flush.
    package let deviceNumber: UInt64
    /// The alignment libpmem2 requires of a mapping's offset and length.
    package let mappingAlignment: Int
    /// Where the mapping's stores become durable.
    package let persistenceDomain: PersistenceDomain

    /// The I/O facts of the mapping (alignment, granularity, atomic unit,
    /// persistence, and the kernel's atomic-write limits, asked of the kernel
    /// now).
    ///
    /// Computed, not stored: every stored property of a mapping is a plain
    /// value. With the report (whose kernel part holds strings) stored,
    /// Swift 6.3.1 built an init that, in a release build of a dependent
    /// package, destroyed a report that was never there (garbage in release,
    /// zeros in debug, so only the release crashed).
    public var ioInfo: IOInfo {
        IOInfo(mappingAlignment: mappingAlignment, storeGranularity: storeGranularity, persistence: persistenceDomain,
               kernelAtomicWrite: .of(descriptor, isDAX: isMapSync || isDeviceDAX))
    }

    /// The address range of the mapping in this process.
    public var addressRange: Range<UInt> {
        UInt(bitPattern: base)..<UInt(bitPattern: base) + UInt(count)
    }

    /// Maps the file at `path`.
    ///
    /// - Parameters:
    ///   - path: A regular file (or a DAX character device).
    ///   - access: `.readWrite` (default) or `.readOnly`.
    ///   - fileRange: The part of the file to map; the whole file when `nil`.
    ///     Its lower bound must be a multiple of ``IOInfo/mappingAlignment``.
    ///   - requiredGranularity: The coarsest store granularity the caller can
    ///     work with. `.page` (the default) works everywhere; `.cacheLine`
    ///     needs DAX (`MAP_SYNC`) and fails elsewhere with
    ///     ``/PMemSystem/PMemError/Code/granularityNotSupported``.
    /// - Throws: ``/PMemSystem/PMemError`` with the path, errno and libpmem2 message.
    public init(
        path: FilePath,
        access: MappingAccess = .readWrite,
        fileRange: Range<Int>? = nil,
        requiredGranularity: StoreGranularity = .page
    ) throws(PMemError) {
        try self.init(ownedDescriptor: Self.openToMap(path, access), path: path, access: access, fileRange: fileRange,
                      requiredGranularity: requiredGranularity)
    }

    /// Maps the file at `path` with its flushes and fences routed to
    /// `persistence` (a simulated domain, for crash testing).
    package init(path: FilePath, access: MappingAccess, routedTo persistence: PersistenceCalls) throws(PMemError) {
        try self.init(ownedDescriptor: Self.openToMap(path, access), path: path, access: access, fileRange: nil,
                      requiredGranularity: .page, routed: persistence)
    }

    private static func openToMap(_ path: FilePath, _ access: MappingAccess) throws(PMemError) -> CInt {
        switch Syscalls.open(path, access == .readWrite ? O_RDWR : O_RDONLY) {
        case .success(let fd): return fd
        case .failure(let errno):
            throw PMemError.system(errno, "opening the file to map (\(access == .readWrite ? "read-write" : "read-only"))", path: path)
        }
    }

    /// Maps the file open at `fileDescriptor`.
    ///
    /// The mapping works on its own duplicate of the descriptor: the caller
    /// keeps ownership of `fileDescriptor` and may close it at any time.
    /// A descriptor opened read-only cannot be mapped `.readWrite`.
    public init(
        fileDescriptor: FileDescriptor,
        access: MappingAccess = .readWrite,
        fileRange: Range<Int>? = nil,
        requiredGranularity: StoreGranularity = .page
    ) throws(PMemError) {
        let mode: CInt
        switch Syscalls.accessMode(fileDescriptor.rawValue) {
        case .success(let m): mode = m
        case .failure(let errno): throw PMemError.system(errno, "reading the descriptor's access mode")
        }
        if access == .readWrite && mode != O_RDWR {
            throw PMemError(.readOnly, "the descriptor was not opened read-write (O_RDWR), so it cannot be mapped for writing; open it with O_RDWR or map it .readOnly")
        }
        if mode == O_WRONLY {
            throw PMemError(.permissionDenied, "the descriptor was opened write-only (O_WRONLY); a mapping needs read access")
        }
        let fd = try Syscalls.duplicate(fileDescriptor.rawValue, path: nil)
        try self.init(ownedDescriptor: fd, path: nil, access: access, fileRange: fileRange,
                      requiredGranularity: requiredGranularity)
    }

    /// Takes ownership of `fd` (closing it on failure) and maps it.
    package init(
        ownedDescriptor fd: CInt, path: FilePath?, access: MappingAccess,
        fileRange: Range<Int>?, requiredGranularity: StoreGranularity,
        routed: PersistenceCalls? = nil,
        interposer: PersistenceCalls.Interposer? = nil
    ) throws(PMemError) {
        var source: OpaquePointer?
        var mapped: UnsafeMutableRawBufferPointer?
        var succeeded = false
        defer {
            if !succeeded {
                if let mapped { Syscalls.unmap(mapped.baseAddress!, mapped.count) }
                if source != nil { pmem2_source_delete(&source) }
                Syscalls.close(fd)
            }
        }

        let status = try Syscalls.status(fd, path: path), type = status.st_mode & S_IFMT
        if type == S_IFDIR {
            throw PMemError(.notARegularFile, "is a directory; only regular files and DAX devices can be mapped", path: path)
        }
        if type != S_IFREG && type != S_IFCHR {
            throw PMemError(.notARegularFile, "is not a regular file or DAX device", path: path)
        }

        var rc = Syscalls.libpmem2(.pmem2SourceFromFd) { pmem2_source_from_fd(&source, fd) }
        guard rc == 0, let source else { throw PMemError.libpmem2(rc, "creating a libpmem2 source", path: path) }
        var fileSize = 0
        rc = Syscalls.libpmem2(.pmem2SourceSize) { pmem2_source_size(source, &fileSize) }
        guard rc == 0 else { throw PMemError.libpmem2(rc, "reading the file size", path: path) }
        var alignment = 0
        rc = Syscalls.libpmem2(.pmem2SourceAlignment) { pmem2_source_alignment(source, &alignment) }
        guard rc == 0 else { throw PMemError.libpmem2(rc, "reading the required mapping alignment", path: path) }
        if fileSize == 0 {
            throw PMemError(.emptyFile, "the file is empty; give it a size (a multiple of \(alignment) bytes) before mapping it", path: path)
        }

        let range = fileRange ?? 0..<fileSize
        if range.lowerBound < 0 || range.upperBound > fileSize {
            throw PMemError(.outOfBounds, "the range \(range) lies outside the file's \(fileSize) bytes", path: path, fileOffset: range.lowerBound)
        }
        if range.isEmpty {
            throw PMemError(.invalidArgument, "the range to map is empty", path: path, fileOffset: range.lowerBound)
        }
        if range.lowerBound % alignment != 0 {
            throw PMemError(.unalignedOffset, "the mapping offset \(range.lowerBound) is not a multiple of the required alignment \(alignment)",
                            path: path, fileOffset: range.lowerBound, requiredAlignment: alignment)
        }
        if range.count % alignment != 0 {
            let what = fileRange == nil ? "the file size" : "the mapping length"
            throw PMemError(.unalignedLength, "\(what) \(range.count) is not a multiple of the required alignment \(alignment); map an aligned range, or give the file an aligned size",
                            path: path, fileOffset: range.lowerBound, requiredAlignment: alignment)
        }

        // The mapping is made here, not by pmem2_map_new: that call walks
        // sysfs changing the process's working directory (see
        // `AvailableGranularity`), and costs 25-30 µs to this path's 4
        // (measured, /dev/shm, 1 MiB). Nor is it registered with libpmem2
        // (see `CacheFlushFunctions`).
        // At the source's alignment (a device DAX may need 1 GiB), and at 2 MiB
        // from 2 MiB on, so that DAX can map it with huge pages.
        let writable = access == .readWrite, mappingAlignment = max(alignment, range.count >= 2 << 20 ? 2 << 20 : 4096)
        let (memory, mapSync) = try Self.mapShared(fd, range: range, alignment: mappingAlignment, writable: writable, path: path)
        mapped = memory
        // Device DAX has no page cache: its stores are as durable as MAP_SYNC's.
        let granularity = AvailableGranularity.of(mapSync: mapSync || type == S_IFCHR)
        if granularity > requiredGranularity {
            throw PMemError(.granularityNotSupported, "\(requiredGranularity) granularity was required, but the file is not on DAX (MAP_SYNC is not available), so its store granularity is \(granularity). Put the file on a file system mounted -o dax on /dev/pmemN (the kernel option memmap=SIZE!OFFSET emulates one from RAM), or, for tests only, emulate the cache-flush path with PMEM2_FORCE_GRANULARITY=CACHE_LINE (not durable).", path: path)
        }

        if granularity == .page && type == S_IFREG {
            // Single-page cache folios behind the mapping: xfs (and ext4
            // from 6.16) cache a file in folios of up to 2 MiB, and a store
            // dirties its whole folio, so a persist of 8 bytes would write
            // back up to 2 MiB (measured on xfs, 6.18: 512 pages written per
            // 4 KiB commit; 3 with this). Clean cached pages are dropped
            // before anything is touched, and faults read no more than their
            // page. The cost: no read-ahead through the mapping.
            Syscalls.dropCachedPages(fd, offset: range.lowerBound, length: range.count)
            Syscalls.adviseNoReadAhead(memory.baseAddress!, memory.count)
        }

        self.source = source
        self.descriptor = fd
        self.path = path
        self.base = memory.baseAddress!
        self.count = memory.count
        self.fileOffset = range.lowerBound
        self.access = access
        self.storeGranularity = granularity
        // libpmem2's page functions work only on its own mappings: ours for `.page`.
        let hardware = PersistenceCalls.hardware(CacheFlushFunctions.functions(for: granularity), granularity: granularity)
        // A counting wrapper (interposer) sees libpmem2's calls and forwards
        // them; a simulated domain (routed) replaces them.
        self.calls = routed ?? interposer.map { $0(hardware) } ?? hardware
        self.isDeviceDAX = type == S_IFCHR
        self.deviceNumber = UInt64(status.st_rdev)
        self.isMapSync = type == S_IFREG && mapSync

        // Decided from what the mapping is, not from how the variable is spelled.
        let persistence: PersistenceDomain
        if storeGranularity == .page {
            // libpmem2 persists with msync: durable on any file that has media.
            let kind = (try? Syscalls.fileSystemTypeUninjected(descriptor).get()) ?? 0
            persistence = FileSystemKind.isMemoryOnly(kind) ? .memoryOnly : .msync
        } else if !(isMapSync || isDeviceDAX) {
            persistence = .forcedForTesting(storeGranularity) // finer than page off DAX: only by force
        } else if storeGranularity == .byte && getenv("PMEM2_FORCE_GRANULARITY") != nil {
            persistence = .forcedForTesting(.byte) // flushes skipped, maybe without eADR
        } else {
            persistence = .dax
        }
        self.mappingAlignment = alignment
        self.persistenceDomain = persistence
        succeeded = true
    }

    deinit {
        var source: OpaquePointer? = source
        Syscalls.unmap(base, count)
        _ = pmem2_source_delete(&source)
        Syscalls.close(descriptor)
    }

    /// Maps `range` of the file shared at a fresh address that is a multiple
    /// of `alignment`: with `MAP_SYNC` where the file allows it (DAX), plain
    /// shared otherwise. Returns the memory and whether it is `MAP_SYNC`.
    private static func mapShared(
        _ fd: CInt, range: Range<Int>, alignment: Int, writable: Bool, path: FilePath?
    ) throws(PMemError) -> (UnsafeMutableRawBufferPointer, Bool) {
        let start: UnsafeMutableRawPointer
        switch Syscalls.reserveAddressSpace(range.count, alignment: alignment) {
        case .success(let p): start = p
        case .failure(let errno): throw PMemError.system(errno, "reserving address space for the mapping", path: path)
        }
        // MAP_SYNC decided first, off to the side: a failed MAP_FIXED over the
        // reservation would leave a hole another thread may be given.
        let sync = Syscalls.probeMapSync(fd, offset: range.lowerBound, writable: writable)
        switch Syscalls.mapFixed(start, range.count, fd, offset: range.lowerBound, sync: sync, writable: writable) {
        case .success:
            return (UnsafeMutableRawBufferPointer(start: start, count: range.count), sync)
        case .failure(let errno):
            // The reservation is left alone: the kernel may have unmapped it
            // before failing, and then the range is no longer ours to unmap.
            var error = PMemError.system(errno, "mapping the file (mmap MAP_SHARED)", path: path)
            if error.code == .permissionDenied && writable {
                error.message = "the file cannot be mapped for writing: \(error.message)"
            }
            throw error
        }
    }
}
