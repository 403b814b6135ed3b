public import PMemSystem
public import PMemMapping
public import PMemSealing
import Glibc
import Synchronization
public import SystemPackage

/// A failure-atomic file: `capacity` bytes, directly mapped, updated with
/// writes and transactions that are all-or-nothing across a crash.
///
/// ```swift
/// let pool = try Pool.create(at: "/mnt/pmem/pool", capacity: 64 << 20)
/// try pool.write(Array("hello".utf8), at: 4096)      // atomic and durable on return
/// try pool.transaction { tx in                        // many writes, one commit
///     tx.write([1, 2, 3], at: 0)
///     tx.write([UInt8](repeating: 7, count: 3 << 20), at: 10 << 20)
/// }
/// let first = try pool.load(UInt8.self, at: 0)
/// ```
///
/// Each update takes the cheapest all-or-nothing path per chunk: an 8-byte
/// store in place, a redo-log lane for partial chunks, or writing spare
/// chunks and remapping them into the view. The on-media format and the
/// recovery argument are in `docs/FORMAT.md`.
///
/// One process may have a pool open at a time (an advisory lock); a second
/// open fails with ``/PMemSystem/PMemError/Code/poolBusy``. A `Pool` may be shared between
/// threads: commits on disjoint chunks run in parallel, overlapping ones wait.
/// Readers of the view are not isolated from a concurrent commit (see
/// docs/FORMAT.md, "What a concurrent reader sees").
public final class Pool: @unchecked Sendable {
    /// The pool file.
    public let path: FilePath
    let layout: PoolLayout
    /// The whole file, mapped by libpmem2: metadata and physical chunks.
    let file: Mapping
    /// A descriptor of our own, for the view's mappings and the lock.
    let descriptor: CInt
    /// The logical contents: `capacity` bytes of address space.
    let view: UnsafeMutableRawPointer
    let viewUsesMapSync: Bool
    /// The file mapping's persistence functions (one table, chosen when it
    /// was mapped): the hardware's, or a test's simulated domain.
    let persistence: PersistenceCalls
    /// How an in-place write makes its word durable where flushes are
    /// cache-line ones, measured at open (WordPersistence.swift) unless the
    /// persistence table fixes it; nil where flushes are `msync` calls.
    public let wordPersistence: WordPersistence?
    /// Whether one-write logged commits leave their apply to the next sync
    /// (flushes are `msync` calls; docs/FORMAT.md, "Deferred apply").
    let defersApply: Bool
    /// Whether large copies go in by pwrite(2) (Pool+FileWrites.swift):
    /// where applies are deferred, so flushes are `msync` calls.
    let writesByFile: Bool
    let locks: ChunkLocks
    /// Where remapped chunks go, and the view's claim on the process's
    /// mapping budget; `locks` refers to it without owning it.
    let placement: ChunkPlacement
    /// False while an open homes chunks before it maps the view (remaps
    /// then change the page table alone).
    private(set) var viewIsMapped = false
    /// Mappings held for the view's remaps between their commit's
    /// reservation and its remap (MappingReserve.swift).
    let mappingReserve: MappingReserve
    /// Homing commits running now (the crash model counts their images).
    let homingsRunning = Atomic<Int>(0)
    /// The in-memory page table; entry `L` changes only under the lock of chunk `L`.
    let pageTable: UnsafeMutableBufferPointer<Int>
    /// Commit records the open found valid and replayed (format version 2
    /// keeps each lane's last record until it is overwritten or killed, so
    /// this counts records whose commit may already have been applied, as well
    /// as commits a crash left unfinished; replaying an applied one changes
    /// nothing).
    public let recoveredCommits: Int
    /// What the open learned about the media: bad blocks in the data area
    /// (metadata on bad media refuses the open with
    /// ``/PMemSystem/PMemError/Code/mediaError``) and the unsafe-shutdown check.
    public let media: PoolMediaReport
    /// Whether this open accepted an unclean shutdown: the device's
    /// unsafe-shutdown count changed while the pool was last open, so durable
    /// stores may be lost (recovery still ran). False when the device offers
    /// no count.
    public var uncleanShutdownDetected: Bool {
        if case .unclean = media.unsafeShutdown { return true }
        return false
    }
    /// The shutdown record written at open, when the device offers a count.
    let shutdownRecord: ShutdownRecord?
    /// Whether ``close()`` ran.
    private let closed = Mutex(false)
    /// Logical chunk ranges of the view that a failed `MAP_FIXED` may have
    /// left unmapped (Pool+View.swift): no longer ours, so never unmapped.
    let viewHoles = Mutex<[Range<Int>]>([])

    /// The logical size of the pool in bytes.
    public var capacity: Int { layout.capacity }
    /// The size of the chunks that are remapped as a whole.
    public var chunkSize: Int { layout.chunkSize }
    /// Spare capacity: the bytes of spare chunks, and the largest atomic write.
    public var spareCapacity: Int { layout.spareChunks * layout.chunkSize }
    /// The largest single write the pool makes failure-atomic. A transaction
    /// is bounded by the same spare chunks and by a lane's room for its log,
    /// so one of many small writes to many chunks may be refused sooner.
    public var maxAtomicWrite: Int { spareCapacity }
    /// The number of redo-log lanes (commits that can run at once).
    public var laneCount: Int { layout.laneCount }
    /// What the pool has done since it was opened.
    public var statistics: PoolStatistics {
        var s = locks.snapshot
        s.homings = placement.homingCount
        return s
    }

    /// The I/O facts of the pool: those of its file, with the pool's own
    /// largest atomic write.
    public var ioInfo: IOInfo {
        var info = file.ioInfo
        info.maxAtomicWrite = maxAtomicWrite
        return info
    }

    /// The byte ranges of the pool file that hold metadata: header, page
    /// table, lanes (as `pmempool info` shows a layout).
    public var metadataRanges: [Range<Int>] {
        [0..<PoolLayout.headerSize,
         PoolLayout.pageTableOffset..<(PoolLayout.pageTableOffset + layout.logicalChunks * 8),
         layout.lanesOffset..<(layout.lanesOffset + layout.laneCount * layout.laneSize)]
    }

    /// Creates a pool in a new sealed file (see ``/PMemSealing/SealedFile``) and opens it.
    ///
    /// - Parameters:
    ///   - path: Where to create the pool file (it must not exist).
    ///   - capacity: Logical bytes, a positive multiple of `chunkSize`.
    ///   - chunkSize: A power of two, at least the page size. 2 MiB (the
    ///     default) matches huge pages on DAX.
    ///   - spareCapacity: Bytes of spare chunks, which bound the largest
    ///     atomic write; by default a quarter of the capacity, but at most
    ///     4 GiB and 8,192 chunks, and at least two chunks
    ///     (``defaultSpareCapacity(capacity:chunkSize:)``).
    ///   - lanes: Commits that can run at once (1...1024).
    ///   - permissions: The file's mode; 0600 by default.
    ///   - sealPlacement: Where the sealed file keeps its seal (see
    ///     ``/PMemSealing/SealPlacement``); the pool format does not depend on it.
    ///   - progress: Reports the writing of the file.
    public static func create(
        at path: FilePath, capacity: Int, chunkSize: Int = 2 << 20, spareCapacity: Int? = nil,
        lanes: Int = 4, permissions: FilePermissions = .ownerReadWrite,
        sealPlacement: SealPlacement = .automatic,
        progress: ((SealProgress) -> Void)? = nil
    ) throws(PMemError) -> Pool {
        let page = SealedFile.pageSize
        guard chunkSize >= page, chunkSize <= PoolLayout.maxChunkSize, chunkSize & (chunkSize - 1) == 0 else {
            throw PMemError(.invalidArgument, "the chunk size must be a power of two from \(page) bytes to 1 GiB, not \(chunkSize)", path: path)
        }
        guard capacity > 0, capacity % chunkSize == 0, capacity / chunkSize <= Int(UInt32.max) / 2 else {
            throw PMemError(.unalignedLength, "the capacity must be a positive multiple of the chunk size \(chunkSize), not \(capacity)",
                            path: path, requiredAlignment: chunkSize)
        }
        let spare = spareCapacity ?? defaultSpareCapacity(capacity: capacity, chunkSize: chunkSize)
        guard spare >= chunkSize, spare % chunkSize == 0 else {
            throw PMemError(.unalignedLength, "the spare capacity must be a positive multiple of the chunk size \(chunkSize), not \(spare)",
                            path: path, requiredAlignment: chunkSize)
        }
        // Chunk numbers are 32-bit in memory (ChunkPlacement.swift).
        guard capacity / chunkSize + spare / chunkSize <= Int(Int32.max) else {
            throw PMemError(.invalidArgument, "\(capacity / chunkSize + spare / chunkSize) chunks of capacity and spare are more than a pool can have (2,147,483,647); use larger chunks",
                            path: path)
        }
        guard (1...PoolLayout.maxLanes).contains(lanes) else {
            throw PMemError(.invalidArgument, "a pool has 1 to \(PoolLayout.maxLanes) lanes, not \(lanes)", path: path)
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let layout = PoolLayout(capacity: capacity, chunkSize: chunkSize, spareChunks: spare / chunkSize,
                                laneCount: lanes, createdAt: Int64(now.tv_sec))
        _ = try SealedFile.create(at: path, size: layout.fileSize, permissions: permissions, replaceExisting: false,
                                  placement: sealPlacement, progress: progress) { (fd) throws(PMemError) in
            try writeInitialMetadata(fd, layout: layout, path: path)
        }
        do {
            return try Pool(opening: path)
        } catch {
            // The file is whole but could not be opened (a failed lock, map or
            // reservation). It is ours and holds nothing yet: remove it, so
            // that a failed create leaves no file, as the caller will assume.
            _ = Syscalls.withoutInjectedFault { Syscalls.unlink(path) }
            throw error
        }
    }

    /// The spare capacity a pool gets unless told: a quarter of the capacity,
    /// at most 4 GiB and 8,192 chunks, at least two chunks. The spare bounds
    /// the largest atomic write, and with every spare chunk away the view
    /// needs 16,385 mappings, a quarter of a default `vm.max_map_count`
    /// (docs/FORMAT.md, "Chunk placement"); a TiB pool's spare is then 0.4 %
    /// of its file.
    public static func defaultSpareCapacity(capacity: Int, chunkSize: Int) -> Int {
        let quarter = capacity / 4 / chunkSize * chunkSize
        return max(2 * chunkSize, min(quarter, 4 << 30, 8192 * chunkSize))
    }

    /// The header and an identity page table, written before the file has a
    /// name; lanes and chunks are already zero.
    static func writeInitialMetadata(_ fd: CInt, layout: PoolLayout, path: FilePath) throws(PMemError) {
        var table = [UInt64](repeating: 0, count: layout.logicalChunks)
        for l in 0..<layout.logicalChunks { table[l] = PageTableEntry.encode(logical: l, physical: l).littleEndian }
        let header = layout.encoded()
        for (bytes, offset) in [(table.withUnsafeBytes { Array($0) }, PoolLayout.pageTableOffset), (header, 0)] {
            if case .failure(let errno) = bytes.withUnsafeBytes({ Syscalls.pwriteAll(fd, $0, at: offset) }) {
                throw PMemError.system(errno, "writing the pool's metadata", path: path)
            }
        }
    }

    /// Opens a pool: checks its seal and header, recovers any committed but
    /// unfinished update, checks the page table, and maps the view.
    public static func open(at path: FilePath) throws(PMemError) -> Pool {
        try Pool(opening: path)
    }

    /// Opens a pool as ``open(at:)-(FilePath)`` does; with
    /// `acceptingUncleanShutdown`, a pool whose device reports an unsafe
    /// shutdown while it was open (which ``open(at:)-(FilePath)`` refuses with
    /// ``/PMemSystem/PMemError/Code/uncleanShutdown``) is recovered as it is,
    /// and the acceptance is recorded in the pool
    /// (``PoolMediaReport/acceptedUncleanShutdown``).
    public static func open(at path: FilePath, acceptingUncleanShutdown: Bool) throws(PMemError) -> Pool {
        try Pool(opening: path, acceptingUnclean: acceptingUncleanShutdown)
    }

    /// Opens a pool at `path` with the file mapping's persistence calls wrapped
    /// by `interposer` (counting, PMemCrashTesting's `PersistenceCounter`).
    package static func open(at path: FilePath, interposedBy interposer: @escaping PersistenceCalls.Interposer,
                             acceptingUncleanShutdown: Bool = false) throws(PMemError) -> Pool {
        try Pool(opening: path, interposer: interposer, acceptingUnclean: acceptingUncleanShutdown)
    }

    init(opening path: FilePath, interposer: PersistenceCalls.Interposer? = nil, acceptingUnclean: Bool = false) throws(PMemError) {
        self.path = path
        let sealed = try SealedFile.open(path)
        let fd = try Syscalls.duplicate(sealed.descriptor, path: path)
        var ready = false
        defer { if !ready { Syscalls.close(fd) } }
        try Self.lock(fd, path: path)
        let file = try sealed.map(interposedBy: interposer)
        let persistence = file.calls
        let bytes = UnsafeMutableRawBufferPointer(start: file.base, count: file.count)
        // The media first, before recovery reads any metadata: bad blocks in
        // page 0, the page table or a lane refuse the open (docs/FORMAT.md,
        // "Media errors and unsafe shutdowns").
        let listed = PoolMedia.badBlockList(file)
        // Without a list this only decodes the header: nothing is written to
        // a file that is not a pool.
        _ = try PoolMedia.refuseBadMetadata((try? listed.get()) ?? [], UnsafeRawBufferPointer(bytes), path: path)
        let (shutdown, record) = try PoolMedia.checkShutdown(file.base, fileSize: file.count, device: file.unsafeShutdownCount(),
                                                             acceptingUnclean: acceptingUnclean, persistence: persistence, path: path)
        let (layout, recovered, table) = try Self.openMetadata(bytes, persistence: persistence, poisoned: (try? listed.get()) ?? [],
                                                                   path: path, descriptor: fd)
        shutdownRecord = record
        switch listed {
        case .success(let blocks):
            media = PoolMediaReport(badBlocks: .tracked(PoolMedia.dataBadBlocks(blocks, layout: layout, table: table)), unsafeShutdown: shutdown,
                                    acceptedUncleanShutdown: record?.acceptedUnclean)
        case .failure(let error):
            media = PoolMediaReport(badBlocks: .notTracked(reason: error.message), unsafeShutdown: shutdown,
                                    acceptedUncleanShutdown: record?.acceptedUnclean)
        }

        // Before the view's reservation, which a failure here would leak.
        let mappingReserve = try MappingReserve(slots: max(layout.spareChunks, 1))
        let view: UnsafeMutableRawPointer
        switch Syscalls.reserveAddressSpace(layout.capacity, alignment: 2 << 20) {
        case .success(let p): view = p
        case .failure(let errno): throw PMemError.system(errno, "reserving address space for the view", path: path)
        }
        self.layout = layout
        self.descriptor = fd
        self.view = view
        self.viewUsesMapSync = file.isMapSync
        self.persistence = persistence
        // Raced on page 0's unused bytes, stored back with their own values.
        if file.access == .readWrite {
            let device = (try? Syscalls.fstat(fd).get()).map { UInt64($0.st_dev) }
            self.wordPersistence = persistence.wordPersistence(page0: file.base, device: device)
        } else {
            self.wordPersistence = nil
        }
        self.recoveredCommits = recovered
        let access = file.access
        self.file = file
        var budget = ViewMappingBudget.process
        var homingAway: Int? = nil
        #if PMEM_TEST_HOOKS
        if let forced = Self.forcedMappingBudget { budget = forced }
        homingAway = Self.forcedHomingAway
        #endif
        let badChunks = Set(media.dataBadBlocks.compactMap(\.physicalChunk))
        let placement = table.withUnsafeBufferPointer {
            ChunkPlacement(table: $0, physicalChunks: layout.physicalChunks, unusable: badChunks, budget: budget, homingAway: homingAway)
        }
        self.placement = placement
        self.mappingReserve = mappingReserve
        // Where a flush is an msync, applies are deferred to the next sync
        // (docs/FORMAT.md, "Deferred apply"), which needs lanes in pairs.
        self.defersApply = !persistence.flushesLines && layout.laneCount >= 2
        self.writesByFile = defersApply && access == .readWrite
        self.locks = ChunkLocks(chunks: layout.logicalChunks, lanes: layout.laneCount, placement: placement, pairs: defersApply)
        self.pageTable = UnsafeMutableBufferPointer.allocate(capacity: layout.logicalChunks)
        _ = pageTable.initialize(from: table)
        ready = true
        // The view's claim on the process's mapping budget; chunks homed
        // through the file first when it has no room.
        try homeUntilClaimFits()
        try mapView()
        viewIsMapped = true
    }

    /// Closes the pool: waits for the operations in flight on other threads,
    /// marks the shutdown record clean, and releases the pool's lock, so that
    /// another process (or another ``open(at:)-(FilePath)`` here) can open it
    /// at once. From then on every operation of this object throws
    /// ``/PMemSystem/PMemError/Code/poolClosed``.
    ///
    /// Idempotent; the last reference going away does the same. `Pool` is a
    /// class shared between threads, so `close()` cannot consume it: the
    /// view stays mapped, unchanged by this object, until the last reference
    /// goes, so that a load racing the close reads memory rather than
    /// faulting. Pointers from ``withUnsafeBytes(_:)`` must not outlive the
    /// pool; after a close they may see another opener's writes.
    public func close() {
        // All of it under the flag's lock: a second close returns only once
        // the first is done.
        closed.withLock { closed in
            guard !closed else { return }
            locks.close()
            locks.waitForHolders()
            // Deferred applies durable, so that a clean pool needs no replay.
            if defersApply { syncAll(at: .closeSync) }
            markShutdownClean()
            Syscalls.unlockFile(descriptor)
            closed = true
        }
    }

    /// A clean close: the record no longer says open (nothing was written
    /// when the device offers no count).
    private func markShutdownClean() {
        if var record = shutdownRecord {
            record.open = false
            record.store(file.base, persistence: persistence)
        }
    }

    deinit {
        if !closed.withLock({ $0 }) { markShutdownClean() }
        unmapView()
        pageTable.deallocate()
        locks.deallocate()
        Syscalls.close(descriptor)
    }

    /// Takes the pool's exclusive lock. A process that forks holds copies of
    /// every descriptor (close-on-exec ones too) until it execs, and with them
    /// the lock for a moment: a server that spawns children while it reopens
    /// a pool meets that window, as the test runner's exit tests do. So a
    /// busy lock is tried again, 50 times 4 ms apart, before the pool is
    /// reported busy. A real second opener holds it all along.
    static func lock(_ fd: CInt, path: FilePath) throws(PMemError) {
        for attempt in 0..<50 {
            switch Syscalls.lockExclusive(fd) {
            case .success: return
            case .failure(.wouldBlock) where attempt < 49: usleep(4_000)
            case .failure(.wouldBlock):
                throw PMemError(.poolBusy, "the pool is open in another process (or already open in this one); a pool has one opener at a time", path: path)
            case .failure(let errno): throw PMemError.system(errno, "locking the pool (flock)", path: path)
            }
        }
    }

    /// The metadata steps of an open, on the file's bytes: decode and check
    /// the header, recover, read and check the page table. `Pool.open` and
    /// the fuzzer's image check both go through here.
    static func openMetadata(_ bytes: UnsafeMutableRawBufferPointer, persistence: PersistenceCalls, poisoned: [BadBlock] = [],
                             path: FilePath?, descriptor: CInt? = nil) throws(PMemError) -> (layout: PoolLayout, recovered: Int, pageTable: [Int]) {
        let layout = try PoolLayout.decode(UnsafeRawBufferPointer(bytes), fileSize: bytes.count, path: path)
        let base = bytes.baseAddress!   // decode refused an empty file
        let recovered = try recover(base, layout: layout, persistence: persistence, poisoned: poisoned, path: path)
        return (layout, recovered, try readPageTable(base, layout: layout, path: path, descriptor: descriptor))
    }

    /// Reads and checks the page table: every entry intact, in range, and no
    /// physical chunk named twice. With `descriptor`, the table is read with
    /// `pread` in large requests rather than through the file mapping,
    /// which reads no pages ahead (on a page cache each of its pages would
    /// be a read of its own), and then dropped from the page cache, so that
    /// a later fault brings in one page, not a large folio that each msync
    /// would write back whole (PMemMapping's Mapping.swift).
    static func readPageTable(_ base: UnsafeRawPointer, layout: PoolLayout, path: FilePath?,
                              descriptor: CInt? = nil) throws(PMemError) -> [Int] {
        let count = layout.logicalChunks
        // Entries a request: 1 MiB.
        let block = 1 << 17
        let buffer = descriptor == nil ? nil : UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * min(block, count), alignment: 64)
        defer { buffer?.deallocate() }
        var failure: PMemError?
        let table = [Int](unsafeUninitializedCapacity: count) { entries, initialized in
            var l = 0
            while l < count {
                let n = min(block, count - l)
                let offset = PoolLayout.pageTableEntryOffset(l)
                var words = base + offset
                if let descriptor, let buffer {
                    let request = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(8 * n)])
                    guard case .success(8 * n) = Syscalls.preadAll(descriptor, request, at: offset) else {
                        failure = PMemError(.ioFailure, "reading the page table (pread) failed or came up short", path: path, fileOffset: offset)
                        break
                    }
                    words = UnsafeRawPointer(buffer.baseAddress!)
                }
                let intact = CRC32C.checkKeyedWords(words, firstKey: l, count: n, values: entries.baseAddress! + l)
                guard intact == n else {
                    failure = PMemError(.poolCorrupt, "page-table entry \(l + intact) is damaged", path: path,
                                        fileOffset: PoolLayout.pageTableEntryOffset(l + intact))
                    break
                }
                l += n
            }
            initialized = failure == nil ? count : 0
        }
        if let failure { throw failure }
        if let descriptor { Syscalls.dropCachedPages(descriptor, offset: PoolLayout.pageTableOffset, length: 8 * count) }
        if let l = PageTableEntry.firstInvalid(in: table, physicalChunks: layout.physicalChunks) {
            throw PMemError(.poolCorrupt, "page-table entry \(l) is out of range or names a chunk twice",
                            path: path, fileOffset: PoolLayout.pageTableEntryOffset(l))
        }
        return table
    }
}
