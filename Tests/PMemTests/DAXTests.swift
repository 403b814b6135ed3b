import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
import SystemPackage
import PMemTestSupport
import Testing

/// Real fsdax: these run inside `scripts/dax-vm` (which `scripts/test` runs),
/// where an ext4 or xfs on emulated persistent memory is mounted -o dax and
/// SWIFT_PMEM_DAX_DIR names it. Outside it they are skipped, saying so.
enum DAX {
    static var directory: String? { ProcessInfo.processInfo.environment["SWIFT_PMEM_DAX_DIR"] }
    static var device: String? { ProcessInfo.processInfo.environment["SWIFT_PMEM_DAX_DEVICE"] }
    static var fileSystem: String { ProcessInfo.processInfo.environment["SWIFT_PMEM_DAX_FS"] ?? "ext4" }
}

@Suite("Real DAX (MAP_SYNC) file systems", .serialized,
       .enabled(if: DAX.directory != nil, "needs an fsdax mount: scripts/test runs this suite inside scripts/dax-vm"))
struct DAXTests {
    let scratch = Scratch(on: DAX.directory ?? "/nonexistent")

    @Test("a file on fsdax maps with MAP_SYNC, cache-line granularity and real persistence")
    func mapSync() throws {
        let path = scratch.file("plain", count: 2 << 20)
        let map = try Mapping(path: path, requiredGranularity: .cacheLine)
        #expect(map.isMapSync == true)
        #expect(map.storeGranularity <= .cacheLine)
        #expect(map.ioInfo.persistence == .dax)
        #expect(map.ioInfo.persistence.isDurable)
        #expect(map.ioInfo.hardwareAtomicUnit == 8)
        // Mainline refuses atomic writes on DAX; Debian 12's 6.1 cannot report them at all.
        let release = KernelAtomicWrite.kernelRelease
        #expect([.dax(release: release), .kernelTooOld(release: release)].contains(map.ioInfo.kernelAtomicWrite),
                "\(map.ioInfo.kernelAtomicWrite)")
        try map.store(UInt64(0xDA7A), at: 64)
        try map.persist(64..<72)
        let payload = [UInt8](repeating: 0x5C, count: 100_000)
        try payload.withUnsafeBytes { try map.copy(from: $0, to: 4096, flags: .nonTemporal) }
        try map.deepFlush(0..<(2 << 20))
        #expect(readFile(path)[64] == 0x7A)
        #expect(Array(readFile(path)[4096..<104_096]) == payload)
    }

    @Test("a remapped 2 MiB chunk is mapped by huge-page faults: the first touches of its 512 pages in the view fault far fewer than 512 times")
    func hugePageFaults() throws {
        // The view is reserved 2 MiB-aligned and chunks start 2 MiB-aligned in
        // the file; the file system must also have put the file's blocks
        // 2 MiB-aligned on the device (scripts/dax-vm's mkfs asks for that).
        let pool = try Pool.create(at: scratch.path("huge-pool"), capacity: 8 << 20, chunkSize: 2 << 20)
        for round in 0..<2 {
            let fill = UInt8(0x41 + round)
            try pool.write([UInt8](repeating: fill, count: 2 << 20), at: 2 << 20) // remapped: a new mapping of the chunk
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let before = usage.ru_minflt + usage.ru_majflt
            let clock = ContinuousClock()
            var sum = 0
            let elapsed = try clock.measure { () throws(PMemError) in
                try pool.withUnsafeBytes { view in
                    for page in stride(from: 2 << 20, to: 4 << 20, by: 4096) { sum += Int(view[page]) }
                }
            }
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let faults = usage.ru_minflt + usage.ru_majflt - before
            print("first touch of a remapped 2 MiB chunk on \(DAX.fileSystem) -o dax: \(faults) page faults for 512 pages, \(elapsed)")
            #expect(sum == 512 * Int(fill))
            #expect(faults <= 8, "the chunk was mapped page by page (\(faults) faults): are the file's extents 2 MiB-aligned?")
        }
    }

    @Test("the bad-block list of a file on pmem can be read (and is empty on fresh emulated pmem)")
    func badBlocks() throws {
        let map = try Mapping(path: scratch.file("bb", count: 1 << 20))
        #expect(try map.badBlocks() == [])
    }

    @Test("a pool on fsdax: the open reads the real bad-block list (empty) and says the emulated device offers no unsafe-shutdown count")
    func poolMediaOnDAX() throws {
        let pool = try Pool.create(at: scratch.path("media-pool"), capacity: 16 * 65536, chunkSize: 65536)
        #expect(pool.media.badBlocks == .tracked([]))
        guard case .notOffered(let reason) = pool.media.unsafeShutdown else {
            Issue.record("emulated pmem offered a count: \(pool.media.unsafeShutdown)"); return
        }
        // memmap= pmem: a count of 0 over no NVDIMMs; qemu's NVDIMM: PMEM2_E_NOSUPP.
        #expect(reason.contains("no NVDIMM") || reason.contains("does not offer"), "\(reason)")
        #expect(!pool.uncleanShutdownDetected)
    }

    @Test("a sealed file on fsdax verifies, and its physical extents are where its bytes are on /dev/pmem0")
    func sealedExtentsAreTheDeviceBytes() throws {
        let path = scratch.path("pool")
        let report = try SealedFile.create(at: path, size: 4 << 20)
        #expect(report.extents.isVerified)
        #expect(report.fileSystem == DAX.fileSystem)
        let file = try SealedFile.open(path)
        let map = try file.map(requiredGranularity: .cacheLine)
        #expect(map.isMapSync == true)
        // Write a distinct word at the start of every 64 KiB through the mapping...
        for offset in stride(from: 0, to: 4 << 20, by: 65536) {
            try map.store(UInt64(0xC0DE_0000_0000) | UInt64(offset), at: offset)
        }
        try map.persist(0..<(4 << 20))
        // ...and read it back from the device at the physical offsets the seal reports.
        let device = try FileDescriptor.open(FilePath(try #require(DAX.device)), .readOnly)
        defer { try? device.close() }
        var checked = 0
        for extent in file.physicalExtents {
            for offset in stride(from: extent.logicalOffset, to: extent.logicalOffset + extent.length, by: 65536)
            where offset < 4 << 20 {
                checked += 1
                var word: UInt64 = 0
                let n = try withUnsafeMutableBytes(of: &word) {
                    try device.read(fromAbsoluteOffset: Int64(extent.physicalOffset + offset - extent.logicalOffset), into: $0)
                }
                #expect(n == 8)
                #expect(word == 0xC0DE_0000_0000 | UInt64(offset), "file offset \(offset)")
            }
        }
        #expect(checked >= 64, "the extents cover the 4 MiB written")
    }

    @Test("the seal survives unmount and mount of the DAX file system")
    func sealSurvivesRemount() throws {
        let path = scratch.path("remount")
        let report = try SealedFile.create(at: path, size: 1 << 20)
        let directory = try #require(DAX.directory)
        let device = try #require(DAX.device)
        // mount(2) itself: Foundation's Process cannot start in the minimal VM.
        try #require(umount(directory) == 0, "umount: errno \(errno)")
        try #require(mount(device, directory, DAX.fileSystem, 0, "dax") == 0, "mount -o dax: errno \(errno)")
        let file = try SealedFile.open(path)
        #expect(file.physicalExtents == report.physicalExtents)
        let map = try file.map()
        #expect(map.isMapSync == true)
    }

    @Test("a pool on fsdax: 2 MiB chunks, a MAP_SYNC view, atomic writes of several sizes, reopen sees them")
    func poolOnDAX() throws {
        let path = scratch.path("pool")
        var model = [UInt8](repeating: 0, count: 32 << 20)
        let writes: [(Int, Int)] = [(0, 1), (8, 8), (1000, 100), ((2 << 20) - 50, 100), (3 << 20, 3 << 20), (10 << 20, 2 << 20)]
        do {
            let pool = try Pool.create(at: path, capacity: 32 << 20)
            #expect(pool.chunkSize == 2 << 20)
            #expect(pool.viewUsesMapSync == true)
            #expect(pool.ioInfo.persistence == .dax)
            for (i, (offset, count)) in writes.enumerated() {
                let bytes = [UInt8](repeating: UInt8(i + 1), count: count)
                try pool.write(bytes, at: offset)
                model.replaceSubrange(offset..<(offset + count), with: bytes)
            }
            try pool.transaction { tx in
                tx.write([9, 9, 9], at: 20 << 20)
                tx.write([UInt8](repeating: 7, count: 2 << 20), at: 24 << 20)
            }
            model.replaceSubrange((20 << 20)..<((20 << 20) + 3), with: [9, 9, 9])
            model.replaceSubrange((24 << 20)..<(26 << 20), with: [UInt8](repeating: 7, count: 2 << 20))
            #expect(pool.statistics.remaps >= 3)
        }
        let pool = try Pool.open(at: path)
        #expect(firstMismatch(try pool.withUnsafeBytes { Array($0) }, model) == nil)
    }
}
