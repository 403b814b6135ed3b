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
    static let commitRecordSize = 64
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
    func chunkOffset(_ physical: Int) -> Int { dataOffset + physical * chunkSize }
    /// Bytes one lane holds: the commit record, two chunks of payload (the
    /// partial edges of any single write), a page-table entry for every spare
    /// chunk, and room for other entry heads (half a chunk, at least a page).
    static func laneSize(chunkSize: Int, spareChunks: Int) -> Int {
        alignUp(commitRecordSize + 2 * chunkSize + spareChunks * CommitRecord.entryHeadSize + max(4096, chunkSize / 2), 4096)
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
        var b = [UInt8](repeating: 0, count: Self.headerSize)
        b.replaceSubrange(0..<8, with: Self.magic)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: Self.version.littleEndian, toByteOffset: 8, as: UInt16.self)
            p.storeBytes(of: UInt16(Self.headerSize).littleEndian, toByteOffset: 10, as: UInt16.self)
            for (offset, value) in [(16, chunkSize), (24, logicalChunks), (32, physicalChunks), (48, laneSize),
                                    (56, Self.pageTableOffset), (64, lanesOffset), (72, dataOffset)] {
                p.storeBytes(of: UInt64(value).littleEndian, toByteOffset: offset, as: UInt64.self)
            }
            p.storeBytes(of: UInt32(laneCount).littleEndian, toByteOffset: 40, as: UInt32.self)
            p.storeBytes(of: createdAt.littleEndian, toByteOffset: 80, as: Int64.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<124]))
            p.storeBytes(of: crc.littleEndian, toByteOffset: 124, as: UInt32.self)
        }
        return b
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
        let u16 = { (o: Int) in UInt16(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
        let u32 = { (o: Int) in UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        let u64 = { (o: Int) in UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<124])) == u32(124) else { throw corrupt("checksum mismatch") }
        guard u16(8) == version else {
            let which = u16(8) < version
                ? "an older format whose lanes this library would misread; open it with the library that made it (which recovers it), then copy its contents into a new pool"
                : "a newer format, made by a newer library"
            throw PMemError(.unsupportedVersion, "the pool is format version \(u16(8)) and this library reads version \(version): \(which)", path: path)
        }
        guard u16(10) == headerSize, u32(12) == 0, u32(44) == 0, b[88..<124].allSatisfy({ $0 == 0 }) else {
            throw corrupt("unknown header size, flags or reserved bytes")
        }
        let limit = UInt64(Int32.max) * 4096
        let fields = [u64(16), u64(24), u64(32), u64(48), u64(56), u64(64), u64(72)]
        guard fields.allSatisfy({ $0 <= limit }), u32(40) >= 1, u32(40) <= 1024 else { throw corrupt("a size or offset is out of range") }
        #if PMEM_FUZZ_PLANTED_BUG
        // Planted for `scripts/fuzz --planted` only, never in the product: an
        // off-by-one read, one byte past a copy of the header, when a header
        // with a valid checksum claims more than 2 lanes (the fuzzer's base
        // images have 2). AddressSanitizer must report it and libFuzzer must
        // reach it. (Exactly 7 lanes, or more than 2 lanes and a negative
        // creation time, were missed in some 60 s runs: too rare for CI.)
        if u32(40) > 2 {
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
            chunkSize: Int(u64(16)), logicalChunks: Int(u64(24)), physicalChunks: Int(u64(32)), laneCount: Int(u32(40)),
            laneSize: Int(u64(48)), lanesOffset: Int(u64(64)), dataOffset: Int(u64(72)),
            createdAt: Int64(littleEndian: b.loadUnaligned(fromByteOffset: 80, as: Int64.self)))
        let c = layout.chunkSize
        // Sizes first, without overflow: the chunks must fit in the file.
        guard c >= 4096, c <= maxChunkSize, c & (c - 1) == 0, layout.logicalChunks >= 1,
              layout.physicalChunks > layout.logicalChunks, layout.physicalChunks <= fileSize / c,
              layout.laneCount <= fileSize / max(layout.laneSize, 1) else {
            throw corrupt("the chunk size or counts do not fit the file size \(fileSize)")
        }
        guard u64(56) == UInt64(pageTableOffset),
              layout.laneSize == laneSize(chunkSize: c, spareChunks: layout.spareChunks),
              layout.lanesOffset == alignUp(pageTableOffset + layout.logicalChunks * 8, 4096),
              layout.dataOffset == alignUp(layout.lanesOffset + layout.laneCount * layout.laneSize, c),
              layout.fileSize == fileSize
        else { throw corrupt("the regions do not fit together or do not match the file size \(fileSize)") }
        return layout
    }
}
