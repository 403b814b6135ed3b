import Glibc
import PMem
import SystemPackage
import PMemTestSupport
import Testing

@Suite("Granularity and I/O info")
struct GranularityTests {
    @Test("a page-cache file reports page granularity, no MAP_SYNC, msync persistence and the 8-byte atomic unit",
          .enabled(if: getenv("PMEM2_FORCE_GRANULARITY") == nil, "PMEM2_FORCE_GRANULARITY is set for the whole test run"),
          arguments: [ext4TestDirectory, "/dev/shm"])
    func pageCacheInfo(base: String) throws {
        let scratch = Scratch(on: base)
        let map = try Mapping(path: scratch.file("f", count: 4096))
        let info = map.ioInfo
        #expect(info.mappingAlignment == 4096)
        #expect(info.storeGranularity == .page)
        #expect(info.hardwareAtomicUnit == 8)
        #expect(info.hardwareAtomicAlignment == 8)
        #expect(info.maxAtomicWrite == 8)
        // tmpfs keeps nothing across a reboot: msync, but not durable.
        let onTmpfs = base == "/dev/shm"
        #expect(info.persistence == (onTmpfs ? .memoryOnly : .msync))
        #expect(info.persistence.isDurable == !onTmpfs)
        #expect(map.isMapSync == false)
        #expect(info.description.contains("msync"))
        #expect(info.description.contains("NOT DURABLE") == onTmpfs)
    }

    @Test("granularities order from fine to coarse")
    func ordering() {
        #expect(StoreGranularity.byte < .cacheLine)
        #expect(StoreGranularity.cacheLine < .page)
    }

    // The forced path runs in a child process: PMEM2_FORCE_GRANULARITY is read
    // by libpmem2 at each map, and setenv is not safe beside running tests.
    @Test("PMEM2_FORCE_GRANULARITY=CACHE_LINE gives the cache-flush path, reported as forced and not durable")
    func forcedCacheLine() async {
        await #expect(processExitsWith: .success) {
            setenv("PMEM2_FORCE_GRANULARITY", "cache_line", 1)
            let scratch = Scratch(on: "/dev/shm")
            let path = scratch.file("forced", count: 3 * 4096)
            let map = try Mapping(path: path, requiredGranularity: .cacheLine)
            guard map.storeGranularity == .cacheLine,
                  map.ioInfo.persistence == .forcedForTesting(.cacheLine),
                  !map.ioInfo.persistence.isDurable,
                  !map.isMapSync else { exit(2) }
            // The cache-flush and non-temporal code paths write what they are asked to.
            let payload = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            try payload.withUnsafeBytes { try map.copy(from: $0, to: 64, flags: .nonTemporal) }
            try map.move(from: 64, to: 6000, count: 5000, flags: [.nonTemporal, .noDrain])
            try map.set(0x11, in: 11_100..<12_288, flags: .temporal)
            try map.store(UInt64(42), at: 11_000)
            try map.flush(11_000..<11_008)
            map.drain()
            try map.persist(0..<12_288)
            let ok = map.withUnsafeBytes { b in
                Array(b[64..<5064]) == payload && Array(b[6000..<11_000]) == payload
                    && b[11_100..<12_288].allSatisfy { $0 == 0x11 }
            }
            guard ok, try map.load(UInt64.self, at: 11_000) == 42 else { exit(3) }
            // And the file holds the same bytes.
            let file = readFile(path)
            guard Array(file[6000..<11_000]) == payload else { exit(4) }
        }
    }

    @Test("PMEM2_FORCE_GRANULARITY=PAGE still persists with msync, which is real persistence")
    func forcedPage() async {
        await #expect(processExitsWith: .success) {
            setenv("PMEM2_FORCE_GRANULARITY", "PAGE", 1)
            let scratch = Scratch(on: ext4TestDirectory)
            let map = try Mapping(path: scratch.file("forced", count: 4096))
            guard map.storeGranularity == .page, map.ioInfo.persistence == .msync,
                  map.ioInfo.persistence.isDurable else { exit(2) }
        }
    }

    @Test("any spelling libpmem2 accepts (CACHELINE too) is caught: cache line off DAX is forced, not durable")
    func forcedOtherSpelling() async {
        await #expect(processExitsWith: .success) {
            setenv("PMEM2_FORCE_GRANULARITY", "CACHELINE", 1)
            let scratch = Scratch(on: "/dev/shm")
            let map = try Mapping(path: scratch.file("forced", count: 4096))
            // libpmem2 1.12 accepts this spelling too and flushes cache lines.
            guard map.storeGranularity == .cacheLine,
                  map.ioInfo.persistence == .forcedForTesting(.cacheLine),
                  !map.ioInfo.persistence.isDurable else { exit(2) }
        }
    }

    @Test("a file whose size is not a multiple of the alignment is refused with unalignedLength and the alignment")
    func unalignedFileSize() throws {
        let scratch = Scratch()
        let path = scratch.file("odd", count: 5000, byte: 1)
        let error = #expect(throws: PMemError.self) { _ = try Mapping(path: path) }
        #expect(error?.code == .unalignedLength)
        #expect(error?.requiredAlignment == 4096)
        // Its aligned prefix maps fine.
        let map = try Mapping(path: path, fileRange: 0..<4096)
        #expect(try map.load(UInt8.self, at: 4095) == 1)
    }
}
