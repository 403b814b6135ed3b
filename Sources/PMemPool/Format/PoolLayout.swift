import PMemSystem
import PMemMapping
import PMemSealing
import SystemPackage

/// The pool header (docs/FORMAT.md, "Header"): where everything is. Written
/// once at creation and never changed.
struct PoolLayout: Sendable, Equatable {
    static let magic: [UInt8] = Array("PMEMPOOL".utf8)
    static let version: UInt16 = 2
    static let headerSize = 128
    static let pageTableOffset = 4096
    /// The open generation (docs/FORMAT.md, "Open generation"): 8 bytes in
    /// page 0, on a cache line of their own.
    static let openGenerationOffset = 3072
    /// The largest lane count a header may claim.
    static let maxLanes = 1024
    /// The header's fields: byte offsets in page 0 (docs/FORMAT.md, "Header").
    enum Field {
        static let version = 8, headerSize = 10, flags = 12, chunkSize = 16, logicalChunks = 24, physicalChunks = 32
        static let laneCount = 40, reserved = 44, laneSize = 48, pageTableOffset = 56, lanesOffset = 64, dataOffset = 72
        static let createdAt = 80
        /// Zero up to the checksum.
        static let padding = 88..<124
        /// The CRC-32C of bytes 0..<124.
        static let checksum = 124
    }
    /// Where page-table entry `logical` is in the file (8 bytes each).
    static func pageTableEntryOffset(_ logical: Int) -> Int { pageTableOffset + 8 * logical }
    /// The largest chunk a pool may have (1 GiB).
    static let maxChunkSize = 1 << 30

    var chunkSize: Int
    var logicalChunks: Int
    var physicalChunks: Int
    var laneCount: Int
    var laneSize: Int
    var lanesOffset: Int
    var dataOffset: Int
    var createdAt: Int64

    var capacity: Int { logicalChunks * chunkSize }
    var spareChunks: Int { physicalChunks - logicalChunks }
    var fileSize: Int { dataOffset + physicalChunks * chunkSize }
    func laneOffset(_ lane: Int) -> Int { lanesOffset + lane * laneSize }
    /// The logical chunk holding logical `offset`, and the offset inside it:
    /// a shift and a mask, since the chunk size is a power of two (checked
    /// at create and at open), where a division costs tens of cycles on
    /// every write.
    @inline(__always) func chunk(of offset: Int) -> Int { offset >> chunkSize.trailingZeroBitCount }
    @inline(__always) func offsetInChunk(_ offset: Int) -> Int { offset & (chunkSize - 1) }
    /// Calls `body` for each piece of the `count` logical bytes at `offset`
    /// that lies in one chunk: the logical chunk, the piece's offset in it,
    /// the bytes before the piece, and its length.
    func forEachPiece(at offset: Int, count: Int,
                      _ body: (_ logical: Int, _ inChunk: Int, _ done: Int, _ length: Int) throws(PMemError) -> Void) throws(PMemError) {
        var done = 0
        while done < count {
            let inChunk = (offset + done) % chunkSize
            let length = min(count - done, chunkSize - inChunk)
            try body((offset + done) / chunkSize, inChunk, done, length)
            done += length
        }
    }

    func chunkOffset(_ physical: Int) -> Int { dataOffset + physical * chunkSize }
    /// Bytes one lane holds: the commit record, two chunks of payload (the
    /// partial edges of any single write), a page-table entry for every spare
    /// chunk, and room for other entry heads (half a chunk, at least a page).
    static func laneSize(chunkSize: Int, spareChunks: Int) -> Int {
        alignUp(CommitRecord.headerSize + 2 * chunkSize + spareChunks * CommitRecord.entryHeadSize + max(4096, chunkSize / 2), 4096)
    }

    /// The layout of a new pool, with every region aligned.
    init(capacity: Int, chunkSize: Int, spareChunks: Int, laneCount: Int, createdAt: Int64) {
        self.chunkSize = chunkSize
        logicalChunks = capacity / chunkSize
        physicalChunks = logicalChunks + spareChunks
        self.laneCount = laneCount
        laneSize = Self.laneSize(chunkSize: chunkSize, spareChunks: spareChunks)
        lanesOffset = Self.alignUp(Self.pageTableOffset + logicalChunks * 8, 4096)
        dataOffset = Self.alignUp(lanesOffset + laneCount * laneSize, chunkSize)
        self.createdAt = createdAt
    }

    private init(chunkSize: Int, logicalChunks: Int, physicalChunks: Int, laneCount: Int, laneSize: Int,
                 lanesOffset: Int, dataOffset: Int, createdAt: Int64) {
        self.chunkSize = chunkSize
        self.logicalChunks = logicalChunks
        self.physicalChunks = physicalChunks
        self.laneCount = laneCount
        self.laneSize = laneSize
        self.lanesOffset = lanesOffset
        self.dataOffset = dataOffset
        self.createdAt = createdAt
    }

    static func alignUp(_ value: Int, _ alignment: Int) -> Int { (value + alignment - 1) / alignment * alignment }

    func encoded() -> [UInt8] {
        .record(Self.headerSize) { w in
            w.store(Self.magic, at: 0)
            w.store(Self.version, at: Field.version)
            w.store(UInt16(Self.headerSize), at: Field.headerSize)
            for (offset, value) in [(Field.chunkSize, chunkSize), (Field.logicalChunks, logicalChunks), (Field.physicalChunks, physicalChunks),
                                    (Field.laneSize, laneSize), (Field.pageTableOffset, Self.pageTableOffset),
                                    (Field.lanesOffset, lanesOffset), (Field.dataOffset, dataOffset)] {
                w.store(UInt64(value), at: offset)
            }
            w.store(UInt32(laneCount), at: Field.laneCount)
            w.store(createdAt, at: Field.createdAt)
            w.storeChecksum(of: 0..<Field.checksum, at: Field.checksum)
        }
    }

    /// Decodes and cross-checks a header against the file's size; every
    /// inconsistency is `poolCorrupt`, never a trap.
    static func decode(_ b: UnsafeRawBufferPointer, fileSize: Int, path: FilePath?) throws(PMemError) -> PoolLayout {
        func corrupt(_ why: String) -> PMemError {
            PMemError(.poolCorrupt, "the pool header cannot be trusted: \(why)", path: path)
        }
        guard b.count >= headerSize else { throw corrupt("the file is too small for a header") }
        guard Array(b[0..<8]) == magic else {
            throw PMemError(.notAPool, "the file has no pool header (no PMEMPOOL magic); create a pool with Pool.create", path: path)
        }
        let r = LittleEndianReader(b)
        let u16 = { (o: Int) in r.load(UInt16.self, at: o) }, u32 = { (o: Int) in r.load(UInt32.self, at: o) }
        let u64 = { (o: Int) in r.load(UInt64.self, at: o) }
        guard r.checksumMatches(0..<Field.checksum, storedAt: Field.checksum) else { throw corrupt("checksum mismatch") }
        let found = u16(Field.version)
        guard found == version else {
            let which = found < version
                ? "an older format whose lanes this library would misread; open it with the library that made it (which recovers it), then copy its contents into a new pool"
                : "a newer format, made by a newer library"
            throw PMemError(.unsupportedVersion, "the pool is format version \(found) and this library reads version \(version): \(which)", path: path)
        }
        guard u16(Field.headerSize) == headerSize, u32(Field.flags) == 0, u32(Field.reserved) == 0, r.isZero(Field.padding) else {
            throw corrupt("unknown header size, flags or reserved bytes")
        }
        let limit = UInt64(Int32.max) * 4096
        let fields = [Field.chunkSize, Field.logicalChunks, Field.physicalChunks, Field.laneSize, Field.pageTableOffset,
                      Field.lanesOffset, Field.dataOffset].map(u64)
        guard fields.allSatisfy({ $0 <= limit }), u32(Field.laneCount) >= 1, u32(Field.laneCount) <= UInt32(maxLanes) else { throw corrupt("a size or offset is out of range") }
        #if PMEM_FUZZ_PLANTED_BUG
        // Planted for `scripts/fuzz --planted` only, never in the product: an
        // off-by-one read, one byte past a copy of the header, when a header
        // with a valid checksum claims more than 2 lanes (the fuzzer's base
        // images have 2). AddressSanitizer must report it and libFuzzer must
        // reach it. (Exactly 7 lanes, or more than 2 lanes and a negative
        // creation time, were missed in some 60 s runs: too rare for CI.)
        if u32(Field.laneCount) > 2 {
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: headerSize, alignment: 8)
            defer { copy.deallocate() }
            copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[0..<headerSize]))
            // A typed subscript: AddressSanitizer checks it even at -Onone,
            // where a raw `load` is a call into the uninstrumented stdlib.
            let bytes = copy.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if bytes[headerSize] == 0xFF { throw corrupt("planted") }
        }
        #endif
        let layout = PoolLayout(
            chunkSize: Int(u64(Field.chunkSize)), logicalChunks: Int(u64(Field.logicalChunks)), physicalChunks: Int(u64(Field.physicalChunks)),
            laneCount: Int(u32(Field.laneCount)), laneSize: Int(u64(Field.laneSize)), lanesOffset: Int(u64(Field.lanesOffset)),
            dataOffset: Int(u64(Field.dataOffset)), createdAt: r.load(Int64.self, at: Field.createdAt))
        let c = layout.chunkSize
        // Sizes first, without overflow: the chunks must fit in the file.
        guard c >= 4096, c <= maxChunkSize, c & (c - 1) == 0, layout.logicalChunks >= 1,
              layout.physicalChunks > layout.logicalChunks, layout.physicalChunks <= fileSize / c,
              layout.laneCount <= fileSize / max(layout.laneSize, 1) else {
            throw corrupt("the chunk size or counts do not fit the file size \(fileSize)")
        }
        guard u64(Field.pageTableOffset) == UInt64(pageTableOffset),
              layout.laneSize == laneSize(chunkSize: c, spareChunks: layout.spareChunks),
              layout.lanesOffset == alignUp(pageTableEntryOffset(layout.logicalChunks), 4096),
              layout.dataOffset == alignUp(layout.lanesOffset + layout.laneCount * layout.laneSize, c),
              layout.fileSize == fileSize
        else { throw corrupt("the regions do not fit together or do not match the file size \(fileSize)") }
        return layout
    }
}
