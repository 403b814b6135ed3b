public import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics
import Glibc
public import SystemPackage

/// A pool opened for reading only, for inspection while its writer has it
/// open (docs/FORMAT.md, "Read-only opens"): no lock that the writer could
/// wait for or be refused by, no recovery, nothing written.
///
/// A read returns the bytes of one committed state: those the next
/// writable open would show if the writer stopped at that moment. The
/// reader replays, in memory and as recovery would, every valid record it
/// finds in the lanes (a committed commit whose effects may not be in place
/// yet), and it starts over when a lane's record header changed while it
/// read, since every change a commit makes to committed bytes happens while
/// a record it wrote is valid, or after one it killed. Writes that leave no
/// record (in-place writes of at most 8 bytes, and
/// ``Pool/storeUncommitted(_:at:)``) are outside that: a read may see any
/// combination of them, as a reader in the writer's process does.
///
/// ```swift
/// let reader = try PoolReader.open(at: "/mnt/pmem/ledger.pool")
/// let header = try reader.read(at: 0, count: 64)
/// ```
public final class PoolReader: @unchecked Sendable {
    /// The pool's file.
    public let path: FilePath
    let layout: PoolLayout
    /// The whole file, mapped read-only (`file`, which owns the mapping).
    private let base: UnsafeRawPointer
    private let file: Mapping
    /// The device's bad ranges in the data area (empty when it keeps no list).
    private let badBlocks: [BadBlock]
    /// How many times a read starts over because a commit changed the pool
    /// under it before it reports ``/PMemSystem/PMemError/Code/changedUnderneath``.
    public static let attempts = 1000

    /// Opens the pool at `path` for reading: checks the seal and the header
    /// (the format version included) and that no metadata lies on bad
    /// blocks. Reads no lane and takes no lock: a writer may hold the pool.
    public static func open(at path: FilePath) throws(PMemError) -> PoolReader {
        try PoolReader(path: path)
    }

    private init(path: FilePath) throws(PMemError) {
        self.path = path
        let sealed = try SealedFile.open(path, access: .readOnly)
        let file = try sealed.map(access: .readOnly)
        let bytes = UnsafeRawBufferPointer(start: file.base, count: file.count)
        let blocks = (try? PoolMedia.badBlockList(file).get()) ?? []
        layout = try PoolMedia.refuseBadMetadata(blocks, bytes, path: path)
        base = UnsafeRawPointer(file.base)
        badBlocks = blocks
        self.file = file
    }

    /// Logical bytes.
    public var capacity: Int { layout.capacity }
    /// The chunk size.
    public var chunkSize: Int { layout.chunkSize }
    /// Commits that can run at once.
    public var laneCount: Int { layout.laneCount }
    /// Spare bytes (chunks that remaps write into).
    public var spareCapacity: Int { layout.spareChunks * layout.chunkSize }

    /// The lanes that hold a valid commit record now, in the order recovery
    /// would replay them: committed commits whose effects reads include,
    /// though they may not be in place yet. With no writer running, what the
    /// next writable open recovers (it replays and clears them); here they
    /// are reported, never applied to the media.
    public func lanesWithValidRecords() throws(PMemError) -> [Int] {
        try consistently { records in records.map(\.lane) }
    }

    /// `count` bytes at logical offset `offset`, as one committed state
    /// shows them (see ``PoolReader``).
    public func read(at offset: Int, count: Int) throws(PMemError) -> [UInt8] {
        guard fits(offset, count, in: capacity) else { throw Pool.outOfBounds(offset, count, capacity: capacity, path: path) }
        var out = [UInt8](repeating: 0, count: count)
        let failure = out.withUnsafeMutableBytes { buffer -> PMemError? in
            do throws(PMemError) { try read(into: buffer, at: offset) } catch { return error }
            return nil
        }
        if let failure { throw failure }
        return out
    }

    /// Reads `buffer.count` bytes at logical offset `offset` into `buffer`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(PMemError) {
        guard fits(offset, buffer.count, in: capacity) else {
            throw Pool.outOfBounds(offset, buffer.count, capacity: capacity, path: path)
        }
        try consistently { (records) throws(PMemError) in
            // Recovery's replay, in memory: each record's page-table
            // entries, then its data through them (Pool+Recovery.swift).
            var remapped: [Int: Int] = [:]
            var writes: [(at: Int, bytes: ArraySlice<UInt8>)] = []
            for record in records {
                for case .pageTable(let logical, let physical) in record.entries { remapped[logical] = physical }
                for case .data(let at, let bytes) in record.entries {
                    try layout.forEachPiece(at: at, count: bytes.count) { (logical, inChunk, done, n) throws(PMemError) in
                        let physical = try physicalChunk(logical, remapped)
                        writes.append((layout.chunkOffset(physical) + inChunk, bytes[done..<(done + n)]))
                    }
                }
            }
            try layout.forEachPiece(at: offset, count: buffer.count) { (logical, inChunk, done, n) throws(PMemError) in
                let from = layout.chunkOffset(try physicalChunk(logical, remapped)) + inChunk
                try refuseBadBlocks(from..<(from + n))
                let into = buffer.baseAddress! + done
                into.copyMemory(from: base + from, byteCount: n)
                for write in writes {
                    let lower = max(write.at, from), upper = min(write.at + write.bytes.count, from + n)
                    guard lower < upper else { continue }
                    write.bytes.withUnsafeBytes { source in
                        (into + (lower - from)).copyMemory(from: source.baseAddress! + (lower - write.at), byteCount: upper - lower)
                    }
                }
            }
        }
    }

    /// Verifies the metadata of one committed state without replaying or
    /// writing anything: the header unchanged, every page-table entry intact
    /// and in range, no physical chunk named twice once the valid records'
    /// entries are replayed in memory, and every valid record's entries in
    /// range. The valid records are counted
    /// (``PoolCheckReport/validRecordsLeft``). Throws
    /// ``/PMemSystem/PMemError/Code/poolCorrupt`` naming the damage.
    public func check() throws(PMemError) -> PoolCheckReport {
        let header = UnsafeRawBufferPointer(start: base, count: PoolLayout.headerSize)
        guard try PoolLayout.decode(header, fileSize: file.count, path: path) == layout else {
            throw PMemError(.poolCorrupt, "the pool header changed while the pool was open for reading", path: path, fileOffset: 0)
        }
        return try consistently { (records) throws(PMemError) in
            var table = try Pool.readPageTable(base, layout: layout, path: path)
            for record in records {
                for case .pageTable(let logical, let physical) in record.entries { table[logical] = physical }
            }
            if let l = PageTableEntry.firstInvalid(in: table, physicalChunks: layout.physicalChunks) {
                throw PMemError(.poolCorrupt, "a valid record sets page-table entry \(l) to a chunk out of range or named twice",
                                path: path, fileOffset: PoolLayout.pageTableEntryOffset(l))
            }
            return PoolCheckReport(logicalChunks: layout.logicalChunks, physicalChunks: layout.physicalChunks, lanes: layout.laneCount,
                                   recoveredCommits: 0, validRecordsLeft: records.count)
        }
    }

    // MARK: One committed state

    private typealias Record = (sequence: UInt64, lane: Int, entries: [LogEntry])

    /// Runs `body` over the valid records until no lane's record header,
    /// nor the open generation, changed while it ran: then what `body` read
    /// belongs to one committed state, and an error it threw is the pool's,
    /// not a writer's change seen halfway. Throws
    /// ``/PMemSystem/PMemError/Code/changedUnderneath`` after ``attempts``
    /// tries.
    private func consistently<T>(_ body: ([Record]) throws(PMemError) -> T) throws(PMemError) -> T {
        let words = layout.laneCount * CommitRecord.headerSize / 8 + 1
        var before = [UInt64](repeating: 0, count: words)
        var after = before
        var lane = [UInt8](repeating: 0, count: layout.laneSize)
        for attempt in 0..<Self.attempts {
            signature(into: &before, first: true)
            var outcome: Result<T, PMemError>
            switch validRecords(matching: before, copy: &lane) {
            case .success(let records):
                do throws(PMemError) { outcome = .success(try body(records)) } catch { outcome = .failure(error) }
            case .failure(let error):
                outcome = .failure(error)
            case nil:
                outcome = .failure(PMemError(.changedUnderneath, "a lane changed while it was copied", path: path))
            }
            signature(into: &after, first: false)
            if before == after { return try outcome.get() }
            // A commit is in flight: let it finish.
            if attempt % 16 == 15 { usleep(100) } else { sched_yield() }
        }
        throw PMemError(.changedUnderneath, "the pool changed under every one of \(Self.attempts) attempts to read it (a writer is committing); nothing was returned",
                        path: path)
    }

    /// The open generation and every lane's record header, word by word
    /// (atomic loads: a writer stores them): first the generation, then the
    /// headers, then an acquire fence, so that what the caller reads next
    /// is read after them; for the second copy, the fence first, then the
    /// headers, then the generation. A record's header changes whenever the
    /// lane gets a new record (a new sequence number, so a new checksum) or
    /// is killed (its sequence word becomes 0, its checksum stays): within
    /// one writer's open it never comes back to an earlier value. Recovery
    /// zeroes headers, after which sequence numbers start again at 1, so
    /// across a writer's reopen one could; recovery increments the
    /// generation before its first store and after its last.
    private func signature(into words: inout [UInt64], first: Bool) {
        words.withUnsafeMutableBufferPointer { w in
            let generation = base + PoolLayout.openGenerationOffset
            if first { w[0] = pmem_load64(generation) } else { pmem_acquire_fence() }
            for lane in 0..<layout.laneCount {
                let record = base + layout.laneOffset(lane)
                for i in 0..<(CommitRecord.headerSize / 8) { w[1 + lane * 8 + i] = pmem_load64(record + 8 * i) }
            }
            if first { pmem_acquire_fence() } else { w[0] = pmem_load64(generation) }
        }
    }

    /// The valid records, oldest first, each decoded from a private copy of
    /// its lane (header and the body it claims, copied once, so that its
    /// checksums and its entries are read from the same bytes) whose header
    /// is the one in `expected`; nil when a lane's header is no longer that
    /// (a writer is at it: try again). A record being written or killed
    /// fails its checksums and is no record. A failure when one whose
    /// checksums match holds malformed entries (as recovery refuses it).
    private func validRecords(matching expected: [UInt64], copy: inout [UInt8]) -> Result<[Record], PMemError>? {
        let maxBody = layout.laneSize - CommitRecord.headerSize
        var valid: [Record] = []
        for lane in 0..<layout.laneCount {
            let record = base + layout.laneOffset(lane)
            let outcome = copy.withUnsafeMutableBytes { private_ -> Result<Record?, PMemError>? in
                let header = private_.baseAddress!
                for i in 0..<(CommitRecord.headerSize / 8) {
                    let word = pmem_load64(record + 8 * i)
                    guard word == expected[1 + lane * 8 + i] else { return nil }
                    header.storeBytes(of: word, toByteOffset: 8 * i, as: UInt64.self)
                }
                guard let claimed = CommitRecord.decodeHeader(header, maxBody: maxBody) else { return .success(nil) }
                (header + CommitRecord.headerSize).copyMemory(from: record + CommitRecord.headerSize, byteCount: claimed.bodyLength)
                guard let head = CommitRecord.decode(header, maxBody: maxBody) else { return .success(nil) }
                guard let entries = LogEntry.decodeBody(UnsafeRawBufferPointer(start: header + CommitRecord.headerSize, count: head.bodyLength),
                                                        count: head.entryCount, layout: layout) else {
                    return .failure(PMemError(.poolCorrupt, "lane \(lane) holds a record whose checksum matches but whose entries are out of range or malformed",
                                              path: path, fileOffset: layout.laneOffset(lane)))
                }
                return .success((head.sequence, lane, entries))
            }
            switch outcome {
            case nil: return nil
            case .failure(let error): return .failure(error)
            case .success(let found): if let found { valid.append(found) }
            }
        }
        valid.sort { $0.sequence < $1.sequence }
        return .success(valid)
    }

    /// The physical chunk of `logical`: as a valid record sets it, else as
    /// the page table on the media says (one atomic word).
    private func physicalChunk(_ logical: Int, _ remapped: [Int: Int]) throws(PMemError) -> Int {
        if let physical = remapped[logical] { return physical }
        let word = UInt64(littleEndian: pmem_load64(base + PoolLayout.pageTableEntryOffset(logical)))
        guard let physical = PageTableEntry.decode(word, logical: logical), physical < layout.physicalChunks else {
            throw PMemError(.poolCorrupt, "page-table entry \(logical) is damaged or out of range", path: path,
                            fileOffset: PoolLayout.pageTableEntryOffset(logical))
        }
        return physical
    }

    /// Refuses to read a file range the device reports bad (reading it could
    /// raise a machine check).
    private func refuseBadBlocks(_ range: Range<Int>) throws(PMemError) {
        for block in badBlocks where block.fileOffset < range.upperBound && range.lowerBound < block.fileOffset + block.length {
            throw PMemError(.mediaError, "the bytes asked for lie on a bad block of the device (file offset \(block.fileOffset), \(block.length) bytes)",
                            path: path, fileOffset: block.fileOffset)
        }
    }
}
