// Every file-system call the library makes goes through this file, so that
// tests can make any one of them fail (see `Syscalls.$injectedFault`) and
// exercise the error paths that a healthy machine never takes. The injector
// exists only in builds with test hooks (PMEM_TEST_HOOKS, debug): a release
// build has no task-local to look up, as swift-system's mocking.
package import Glibc
package import CLinux
import Synchronization
package import SystemPackage

/// The system calls that can be made to fail in tests.
package enum Syscall: String, Sendable {
    case open, fstat, fstatfs, fsync, ftruncate, fallocate, pwrite, pread, ioctl
    case getxattr, setxattr, removexattr, mmap, dup, fcntl
    case lstat, unlink, link, rename, flock, read
    // libpmem2's calls that can fail (see `Syscalls.libpmem2`).
    case pmem2SourceFromFd, pmem2SourceSize, pmem2SourceAlignment
}

#if PMEM_TEST_HOOKS
/// One injected failure: a call fails with `errno` instead of running. With
/// `call` nil, any call counts; `occurrence` picks which matching call fails
/// (0: the first), so a test can fail every call of a path in turn.
package struct InjectedFault: Sendable {
    package var call: Syscall?
    package var errno: Errno
    package var occurrence = 0
    /// Matching calls seen so far; shared by copies of this fault.
    package let seen = CallCounter()

    package init(call: Syscall?, errno: Errno, occurrence: Int = 0) {
        self.call = call
        self.errno = errno
        self.occurrence = occurrence
    }

    /// Counts `call` if it matches; true if it is the one to fail.
    package func fails(_ call: Syscall) -> Bool {
        guard self.call == nil || self.call == call else { return false }
        return seen.next() == occurrence
    }
}

/// A thread-safe count of calls (a fault may be hit from several threads).
package final class CallCounter: Sendable {
    private let count = Atomic<Int>(0)
    /// Returns the number of calls before this one, and counts this one.
    package func next() -> Int { count.add(1, ordering: .relaxed).oldValue }
    /// The calls counted.
    package var total: Int { count.load(ordering: .relaxed) }
}
#endif

package enum Syscalls {
    #if PMEM_TEST_HOOKS
    /// The failure to inject in the current task (tests only: it exists in
    /// builds with test hooks, and a release build never looks it up).
    @TaskLocal static var injectedFault: InjectedFault?
    #endif

    #if PMEM_TEST_HOOKS
    /// The injected failure in effect.
    @inline(__always)
    package static var activeFault: InjectedFault? { injectedFault }
    #endif

    /// Runs `body` with no fault injected (cleaning up after a failure the
    /// test injected must not fail too).
    package static func withoutInjectedFault<R>(_ body: () -> R) -> R {
        #if PMEM_TEST_HOOKS
        return $injectedFault.withValue(nil, operation: body)
        #else
        return body()
        #endif
    }

    /// Runs a libpmem2 call that returns 0 or a negative error code; an
    /// injected fault returns `-errno`, as libpmem2 does for a failed system call.
    package static func libpmem2(_ call: Syscall, _ body: () -> CInt) -> CInt {
        #if PMEM_TEST_HOOKS
        if let fault = activeFault, fault.fails(call) { return -fault.errno.rawValue }
        #endif
        return body()
    }

    @inline(__always)
    private static func run<T>(_ call: Syscall, _ body: () -> T, failed: (T) -> Bool) -> Result<T, Errno> {
        #if PMEM_TEST_HOOKS
        if let fault = activeFault, fault.fails(call) { return .failure(fault.errno) }
        #endif
        while true {
            let value = body()
            if !failed(value) { return .success(value) }
            let err = Errno(rawValue: Glibc.errno)
            if err != .interrupted { return .failure(err) }
        }
    }

    package static func open(_ path: FilePath, _ flags: CInt, _ mode: mode_t = 0) -> Result<CInt, Errno> {
        path.withPlatformString { cPath in
            run(.open, { Glibc.open(cPath, flags | O_CLOEXEC, mode) }, failed: { $0 < 0 })
        }
    }

    package static func close(_ fd: CInt) { _ = Glibc.close(fd) }

    /// An unnamed regular file in `directory` (`O_TMPFILE`): it has no name,
    /// so nothing is left behind if the process dies before ``linkAnonymous``.
    package static func openAnonymous(in directory: FilePath, _ mode: mode_t) -> Result<CInt, Errno> {
        directory.withPlatformString { cPath in
            run(.open, { Glibc.open(cPath, clinux_O_TMPFILE | O_RDWR | O_CLOEXEC, mode) }, failed: { $0 < 0 })
        }
    }

    /// Gives an `O_TMPFILE` file the name `path`; fails with `EEXIST` if
    /// the name is taken (never replaces anything).
    package static func linkAnonymous(_ fd: CInt, to path: FilePath) -> Result<Void, Errno> {
        path.withPlatformString { cPath in
            run(.link, { Glibc.linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, cPath, AT_SYMLINK_FOLLOW) },
                failed: { $0 != 0 })
        }.map { _ in () }
    }

    /// The status of `path` itself (not of a symbolic link's target), or
    /// `nil` when nothing is there.
    package static func lstat(_ path: FilePath) -> Result<stat?, Errno> {
        var st = stat()
        let result = path.withPlatformString { cPath in run(.lstat, { Glibc.lstat(cPath, &st) }, failed: { $0 != 0 }) }
        switch result {
        case .success: return .success(st)
        case .failure(.noSuchFileOrDirectory): return .success(nil)
        case .failure(let e): return .failure(e)
        }
    }

    package static func unlink(_ path: FilePath) -> Result<Void, Errno> {
        path.withPlatformString { cPath in run(.unlink, { Glibc.unlink(cPath) }, failed: { $0 != 0 }) }.map { _ in () }
    }

    /// Renames `from` to `to`, atomically replacing whatever `to` named.
    package static func rename(_ from: FilePath, _ to: FilePath) -> Result<Void, Errno> {
        from.withPlatformString { a in
            to.withPlatformString { b in run(.rename, { Glibc.rename(a, b) }, failed: { $0 != 0 }) }
        }.map { _ in () }
    }

    package static func fstat(_ fd: CInt) -> Result<stat, Errno> {
        var st = stat()
        return run(.fstat, { Glibc.fstat(fd, &st) }, failed: { $0 != 0 }).map { _ in st }
    }

    /// The file system's magic number (`statfs.f_type`).
    package static func fileSystemType(_ fd: CInt) -> Result<Int, Errno> {
        var sfs = statfs()
        return run(.fstatfs, { CLinux.fstatfs(fd, &sfs) }, failed: { $0 != 0 }).map { _ in Int(sfs.f_type) }
    }

    /// `statx(fd, STATX_WRITE_ATOMIC)`. Not injectable: its failure changes
    /// only what `IOInfo/kernelAtomicWrite` says, never whether a path
    /// succeeds, so it is kept out of the fault-injection tests' call counts.
    package static func statxAtomicWrite(_ fd: CInt) -> Result<clinux_statx_atomic_write, Errno> {
        var facts = clinux_statx_atomic_write()
        while true {
            if clinux_statx_atomic_write(fd, &facts) == 0 { return .success(facts) }
            let err = Errno(rawValue: Glibc.errno)
            if err != .interrupted { return .failure(err) }
        }
    }

    /// `statfs.f_type` for a report, not injectable (see `statxAtomicWrite`).
    package static func fileSystemTypeUninjected(_ fd: CInt) -> Result<Int, Errno> {
        var sfs = statfs()
        return CLinux.fstatfs(fd, &sfs) == 0 ? .success(Int(sfs.f_type)) : .failure(Errno(rawValue: Glibc.errno))
    }

    package static func fsync(_ fd: CInt) -> Result<Void, Errno> {
        run(.fsync, { Glibc.fsync(fd) }, failed: { $0 != 0 }).map { _ in () }
    }

    package static func ftruncate(_ fd: CInt, _ size: Int) -> Result<Void, Errno> {
        run(.ftruncate, { Glibc.ftruncate(fd, off_t(size)) }, failed: { $0 != 0 }).map { _ in () }
    }

    package static func fallocate(_ fd: CInt, mode: CInt, offset: Int, length: Int) -> Result<Void, Errno> {
        run(.fallocate, { CLinux.fallocate(fd, mode, off_t(offset), off_t(length)) }, failed: { $0 != 0 })
            .map { _ in () }
    }

    /// Writes all of `buffer` at `offset`, continuing after short writes.
    package static func pwriteAll(_ fd: CInt, _ buffer: UnsafeRawBufferPointer, at offset: Int) -> Result<Void, Errno> {
        pwriteAll(buffer, at: offset) { Glibc.pwrite(fd, $0, $1, $2) }
    }

    /// ``pwriteAll(_:_:at:)`` over a given `pwrite` (tests give one that
    /// makes no progress). A call that writes nothing for a non-empty
    /// buffer would do the same again: it is an I/O error, not a retry.
    package static func pwriteAll(_ buffer: UnsafeRawBufferPointer, at offset: Int,
                                  _ pwrite: (UnsafeRawPointer, Int, off_t) -> Int) -> Result<Void, Errno> {
        var done = 0
        while done < buffer.count {
            let result = run(.pwrite, { pwrite(buffer.baseAddress! + done, buffer.count - done, off_t(offset + done)) }, failed: { $0 < 0 })
            switch result {
            case .failure(let e): return .failure(e)
            case .success(0): return .failure(.ioError)
            case .success(let n): done += n
            }
        }
        return .success(())
    }

    /// Reads from `fd` with read(2) until the end: files, pipes, standard
    /// input and /proc files (whose size reads as 0).
    package static func readToEnd(_ fd: CInt) -> Result<[UInt8], Errno> {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let result = chunk.withUnsafeMutableBytes { buffer in
                run(.read, { Glibc.read(fd, buffer.baseAddress, buffer.count) }, failed: { $0 < 0 })
            }
            switch result {
            case .failure(let e): return .failure(e)
            case .success(0): return .success(bytes)
            case .success(let n): bytes += chunk[0..<n]
            }
        }
    }

    /// Reads `buffer.count` bytes at `offset`; fewer only at the end of the file.
    package static func preadAll(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Result<Int, Errno> {
        var done = 0
        while done < buffer.count {
            let result = run(.pread, {
                Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            }, failed: { $0 < 0 })
            switch result {
            case .failure(let e): return .failure(e)
            case .success(0): return .success(done)
            case .success(let n): done += n
            }
        }
        return .success(done)
    }

    package static func ioctl(_ fd: CInt, _ request: UInt, _ argument: UnsafeMutableRawPointer) -> Result<CInt, Errno> {
        run(.ioctl, { Glibc.ioctl(fd, request, argument) }, failed: { $0 < 0 })
    }

    /// The value of extended attribute `name`, or `nil` when the file has none.
    package static func getxattr(_ fd: CInt, _ name: String) -> Result<[UInt8]?, Errno> {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let result = buffer.withUnsafeMutableBytes { b in
            run(.getxattr, { CLinux.fgetxattr(fd, name, b.baseAddress, b.count) }, failed: { $0 < 0 })
        }
        switch result {
        case .success(let n): return .success(Array(buffer[..<n]))
        case .failure(.noData): return .success(nil)
        case .failure(let e): return .failure(e)
        }
    }

    package static func setxattr(_ fd: CInt, _ name: String, _ value: [UInt8]) -> Result<Void, Errno> {
        value.withUnsafeBytes { b in
            run(.setxattr, { CLinux.fsetxattr(fd, name, b.baseAddress, b.count, 0) }, failed: { $0 != 0 })
        }.map { _ in () }
    }

    /// Removes extended attribute `name`; succeeds when it was not there.
    package static func removexattr(_ fd: CInt, _ name: String) -> Result<Void, Errno> {
        switch run(.removexattr, { CLinux.fremovexattr(fd, name) }, failed: { $0 != 0 }) {
        case .success, .failure(.noData): .success(())
        case .failure(let e): .failure(e)
        }
    }

    package static func dup(_ fd: CInt) -> Result<CInt, Errno> {
        run(.dup, { Glibc.fcntl(fd, F_DUPFD_CLOEXEC, 0) }, failed: { $0 < 0 })
    }

    /// The access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) of an open descriptor.
    package static func accessMode(_ fd: CInt) -> Result<CInt, Errno> {
        run(.fcntl, { Glibc.fcntl(fd, F_GETFL) }, failed: { $0 < 0 }).map { $0 & O_ACCMODE }
    }

    /// Takes an exclusive advisory lock on the open file without waiting.
    package static func lockExclusive(_ fd: CInt) -> Result<Void, Errno> {
        run(.flock, { clinux_flock(fd, LOCK_EX | LOCK_NB) }, failed: { $0 != 0 }).map { _ in () }
    }

    /// Releases the lock `lockExclusive` took (every descriptor sharing the
    /// open file description loses it at once).
    package static func unlockFile(_ fd: CInt) {
        _ = clinux_flock(fd, LOCK_UN)
    }

    /// Reserves `length` bytes of address space, inaccessible until mapped
    /// over, starting at a multiple of `alignment` (a power of two): reserve
    /// `length + alignment`, then give back the unaligned head and the tail.
    package static func reserveAddressSpace(_ length: Int, alignment: Int = 4096) -> Result<UnsafeMutableRawPointer, Errno> {
        #if PMEM_TEST_HOOKS
        if let fault = activeFault, fault.fails(.mmap) { return .failure(fault.errno) }
        #endif
        let total = length + alignment
        guard let p = Glibc.mmap(nil, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              p != MAP_FAILED else { return .failure(Errno(rawValue: Glibc.errno)) }
        let start = UInt(bitPattern: p), aligned = (start + UInt(alignment) - 1) & ~UInt(alignment - 1)
        if aligned > start { _ = Glibc.munmap(p, Int(aligned - start)) }
        let end = aligned + UInt(length), stop = start + UInt(total)
        if stop > end { _ = Glibc.munmap(UnsafeMutableRawPointer(bitPattern: end)!, Int(stop - end)) }
        return .success(UnsafeMutableRawPointer(bitPattern: aligned)!)
    }

    /// Takes back `length` bytes at `address` as an inaccessible reservation
    /// if nothing is mapped anywhere in them (`MAP_FIXED_NOREPLACE`); false
    /// when something is (`EEXIST`) or the call fails. Not subject to fault
    /// injection: it repairs after a failure, it reports none.
    package static func reclaimAddressSpace(_ address: UnsafeMutableRawPointer, _ length: Int) -> Bool {
        let noReplace: CInt = 0x100000 // MAP_FIXED_NOREPLACE (Linux 4.17)
        guard let p = Glibc.mmap(address, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | noReplace, -1, 0),
              p != MAP_FAILED else { return false }
        // A kernel that ignores the flag may place the mapping elsewhere.
        if p != address { _ = Glibc.munmap(p, length); return false }
        return true
    }

    /// Whether every byte of `length` at `address` is mapped from the file
    /// of `fd`, as `/proc/self/maps` lists it: by device and inode number
    /// (inode numbers repeat across file systems), but on btrfs, which shows
    /// a device there that its `stat` does not, by inode number only. For
    /// the rare path after a failed `MAP_FIXED`, not for a hot one: it reads
    /// and parses the list, allocating nothing (the process may have no
    /// memory left: the mmap may have failed for that).
    package static func isMapped(_ address: UnsafeRawPointer, _ length: Int, from fd: CInt) -> Bool {
        var st = stat()
        guard Glibc.fstat(fd, &st) == 0 else { return false }
        var sfs = statfs()
        let checksDevice = CLinux.fstatfs(fd, &sfs) == 0 && Int(sfs.f_type) != FileSystemKind.btrfs
        // The kernel's major and minor numbers, as maps prints them.
        let dev = UInt64(st.st_dev)
        let major = (dev >> 8) & 0xfff | (dev >> 32) & ~0xfff, minor = (dev & 0xff) | (dev >> 12) & ~0xff
        let start = UInt(bitPattern: address)
        return clinux_range_maps_file(start, start + UInt(length), checksDevice ? 1 : 0, UInt(major), UInt(minor), UInt64(st.st_ino)) == 1
    }

    /// Whether the file at `fd` can be mapped `MAP_SYNC` (a DAX file): a probe
    /// of one page at `offset`, mapped where the kernel likes and unmapped
    /// again. Asked before mapping over a reservation, because a `MAP_FIXED`
    /// mapping that fails (`MAP_SYNC` off DAX fails in the file system's
    /// mmap, after the kernel has unmapped the range) leaves a hole that
    /// another thread's next mapping may take. Not subject to fault injection:
    /// it decides a flag, it reports no error.
    package static func probeMapSync(_ fd: CInt, offset: Int, writable: Bool) -> Bool {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let flags: CInt = 0x03 /* MAP_SHARED_VALIDATE */ | 0x80000 /* MAP_SYNC */
        guard let p = Glibc.mmap(nil, page, writable ? PROT_READ | PROT_WRITE : PROT_READ, flags, fd, off_t(offset)),
              p != MAP_FAILED else { return false }
        _ = Glibc.munmap(p, page)
        return true
    }

    /// Maps `length` bytes of the file at `offset` over `address` (which must
    /// already be mapped), replacing the old pages in one step: a concurrent
    /// reader sees the old or the new pages, never a hole. With `sync`, the
    /// mapping is `MAP_SYNC`, which only a DAX file allows (`EOPNOTSUPP`
    /// elsewhere, `EINVAL` from kernels before 4.15: ask ``probeMapSync``
    /// first). On failure the range may already be unmapped, and so no
    /// longer the caller's: do not map over it or unmap it again.
    package static func mapFixed(_ address: UnsafeMutableRawPointer, _ length: Int, _ fd: CInt, offset: Int, sync: Bool,
                                 writable: Bool = true) -> Result<Void, Errno> {
        #if PMEM_TEST_HOOKS
        if let fault = activeFault, fault.fails(.mmap) { return .failure(fault.errno) }
        #endif
        let flags = sync ? (0x03 /* MAP_SHARED_VALIDATE */ | 0x80000 /* MAP_SYNC */ | MAP_FIXED) : (MAP_SHARED | MAP_FIXED)
        guard let p = Glibc.mmap(address, length, writable ? PROT_READ | PROT_WRITE : PROT_READ, flags, fd, off_t(offset)),
              p != MAP_FAILED else { return .failure(Errno(rawValue: Glibc.errno)) }
        return .success(())
    }

    /// No read-ahead on the faults of the mapping at `address`
    /// (`MADV_RANDOM`): a fault then brings one page into the page cache,
    /// not a large folio, so a later msync writes back only the pages
    /// stored to. Advice: when refused, nothing is wrong, only slower.
    package static func adviseNoReadAhead(_ address: UnsafeMutableRawPointer, _ length: Int) {
        _ = Glibc.madvise(address, length, MADV_RANDOM)
    }

    /// Reads ahead the pages of the mapping at `address` (page-aligned)
    /// that are not cached (`MADV_WILLNEED`), in large requests: a mapping
    /// advised ``adviseNoReadAhead(_:_:)`` otherwise faults its pages in one
    /// read each. Advice: when refused, nothing is wrong, only slower.
    package static func adviseWillNeed(_ address: UnsafeMutableRawPointer, _ length: Int) {
        _ = Glibc.madvise(address, length, MADV_WILLNEED)
    }

    /// Drops the clean cached pages of the file's range that no process maps
    /// (`POSIX_FADV_DONTNEED`); dirty ones stay (and start writing back).
    /// Advice: a tmpfs keeps its pages.
    package static func dropCachedPages(_ fd: CInt, offset: Int, length: Int) {
        _ = Glibc.posix_fadvise(fd, off_t(offset), off_t(length), POSIX_FADV_DONTNEED)
    }

    /// Changes the protection of pages of a private anonymous mapping
    /// (`mprotect`): readable, or no access. ENOMEM when the change would
    /// split a mapping and the process has no mapping left under
    /// `vm.max_map_count`. Not subject to fault injection: the pool's
    /// mapping reserve (MappingReserve.swift) uses it to learn exactly that.
    package static func protect(_ address: UnsafeMutableRawPointer, _ length: Int, readable: Bool) -> Result<Void, Errno> {
        Glibc.mprotect(address, length, readable ? PROT_READ : PROT_NONE) == 0 ? .success(()) : .failure(Errno(rawValue: Glibc.errno))
    }

    package static func unmap(_ address: UnsafeMutableRawPointer, _ length: Int) {
        _ = Glibc.munmap(address, length)
    }
}
