import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemPool
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// A failed `MAP_FIXED` may leave its range unmapped (the kernel removes
/// the old mapping before the file system's mmap can fail), and another
/// thread may be given the hole at once. An injected failure leaves the view
/// as it was, so the kernel's part is played by the test: it unmaps the
/// range, and maps something of its own there as another thread would,
/// before the pool settles the range (`settleFailedMap`).
@Suite("The pool's view after a failed MAP_FIXED: holes taken back or left alone, never unmapped")
struct ViewHoleTests {
    @Test("a remap whose MAP_FIXED fails poisons the pool; the range still maps the file, so it is no hole; a reopen finishes the remap",
          arguments: [false, true])
    func failedRemapPoisonsAndRecovers(pageMode: Bool) throws {
        let scratch = Scratch(on: "/dev/shm")
        let chunk = 4096
        let payload = [UInt8](repeating: 0x5A, count: chunk)
        do {
            let (pool, _) = try simulatedPool(scratch, lanes: 4, pageMode: pageMode)
            let error = Syscalls.$injectedFault.withValue(InjectedFault(call: .mmap, errno: .noMemory)) {
                #expect(throws: PMemError.self) { try pool.write(payload, at: 3 * chunk) }
            }
            #expect(error != nil)
            #expect(pool.viewHoles.withLock { $0 }.isEmpty)
            // Poisoned: the durable page table and the view disagree.
            let refused = #expect(throws: PMemError.self) { try pool.write([1, 2, 3], at: 0) }
            #expect(refused?.code == .needsRecovery)
            // Nor is the view handed out: it may be stale there, or a hole.
            let view = #expect(throws: PMemError.self) { try pool.withUnsafeBytes { Array($0) } }
            #expect(view?.code == .needsRecovery)
        }
        // The pool has gone and left nothing of the file mapped: its lock is free.
        let reopened = try Pool.open(at: scratch.path("pool"))
        #expect(try reopened.read(at: 3 * chunk, count: chunk) == payload, "the remap was committed: recovery finishes it")
    }

    @Test("a range the kernel unmapped is taken back as a reservation, so the whole view is the pool's again")
    func emptyRangeIsTakenBack() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (pool, _) = try simulatedPool(scratch)
        let range = pool.view + 3 * 4096
        #expect(munmap(range, 4096) == 0)
        pool.settleFailedMap(3, count: 1)
        #expect(pool.viewHoles.withLock { $0 }.isEmpty)
        #expect(msync(range, 4096, MS_ASYNC) == 0, "the range is mapped again")
        #expect(!Syscalls.isMapped(range, 4096, from: pool.descriptor), "by a reservation, not by the file")
        #expect(Syscalls.isMapped(pool.view, 3 * 4096, from: pool.descriptor))
    }

    @Test("a range another mapping took is a hole: the pool's end leaves that mapping alone, and the pool reopens")
    func takenRangeIsLeftAlone() throws {
        let scratch = Scratch(on: "/dev/shm")
        var theirs: UnsafeMutableRawPointer?
        do {
            let (pool, _) = try simulatedPool(scratch)
            let hole = pool.view + 3 * 4096
            #expect(munmap(hole, 4096) == 0)
            theirs = mmap(hole, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
            try #require(theirs == hole, "could not map into the hole")
            theirs!.storeBytes(of: 0xC0FFEE, as: UInt64.self)
            pool.settleFailedMap(3, count: 1)
            #expect(pool.viewHoles.withLock { $0 } == [3..<4])
        } // the pool goes here
        let mine = try #require(theirs)
        // msync fails (ENOMEM) on an unmapped range, where a load would crash.
        guard msync(mine, 4096, MS_ASYNC) == 0 else {
            Issue.record("the pool unmapped a range that was no longer its own")
            return
        }
        #expect(mine.load(as: UInt64.self) == 0xC0FFEE)
        munmap(mine, 4096)
        _ = try Pool.open(at: scratch.path("pool"))
    }

    @Test("isMapped tells the file from another with the same inode number on another file system")
    func sameInodeOtherDevice() throws {
        if getuid() != 0 { try Skip.test(.needsRoot, "mounting two tmpfs instances needs root") }
        // The first file made on a fresh tmpfs gets the same inode number on each.
        let mounts = try (0..<2).map { _ -> String in
            let dir = try #require(mkdtemp(strdup("/tmp/swift-pmem-ino-XXXXXX")).map { String(cString: $0) })
            try #require(mount("tmpfs", dir, "tmpfs", 0, "size=1m") == 0, "mount: \(String(cString: strerror(errno)))")
            return dir
        }
        defer { for dir in mounts { umount(dir); rmdir(dir) } }
        let fds = mounts.map { dir in
            let fd = open(dir + "/f", O_RDWR | O_CREAT, 0o600)
            _ = ftruncate(fd, 4096)
            return fd
        }
        defer { for fd in fds { close(fd) } }
        var a = stat(), b = stat()
        fstat(fds[0], &a); fstat(fds[1], &b)
        try #require(a.st_ino == b.st_ino && a.st_dev != b.st_dev, "the two files' inode numbers differ: nothing to tell apart")
        let map = try #require(mmap(nil, 4096, PROT_READ, MAP_SHARED, fds[0], 0))
        defer { munmap(map, 4096) }
        #expect(Syscalls.isMapped(map, 4096, from: fds[0]))
        #expect(!Syscalls.isMapped(map, 4096, from: fds[1]), "matched by inode number alone")
    }
}
