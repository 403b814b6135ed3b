import PMemSystem
import PMemMapping
import PMemSealing
import SystemPackage

/// What opening a pool learned about its media: the device's bad blocks
/// and its unsafe-shutdown count (docs/FORMAT.md, "Media errors and unsafe
/// shutdowns"). Bad blocks in metadata refuse the open
/// (``/PMemSystem/PMemError/Code/mediaError``); this reports the rest.
public struct PoolMediaReport: Sendable, Hashable {
    /// The bad-block list of the pool file, as the open found it.
    public enum BadBlocks: Sendable, Hashable {
        /// The device tracks bad blocks; these lie in the pool's data area
        /// (empty: none). Metadata bad blocks never get this far.
        case tracked([PoolBadBlock])
        /// The file has no bad-block list (not on DAX), or it could not be
        /// read; the reason says which.
        case notTracked(reason: String)
    }

    /// The bad blocks of the data area, or why there is no list.
    public var badBlocks: BadBlocks
    /// The unsafe-shutdown count, compared with the one recorded at the last open.
    public var unsafeShutdown: UnsafeShutdownCheck
    /// The device's count at the open that last accepted an unclean shutdown
    /// of this pool (``/PMemPool/Pool/open(at:acceptingUncleanShutdown:)``),
    /// as the pool records it; nil if none was ever accepted: the pool's
    /// contents may then be older than what was acknowledged.
    public var acceptedUncleanShutdown: UInt64?

    /// The bad blocks found in the data area (empty when none or not tracked).
    public var dataBadBlocks: [PoolBadBlock] {
        if case .tracked(let blocks) = badBlocks { return blocks }
        return []
    }
}

/// A bad range of the pool file's data area, with the logical bytes it holds.
public struct PoolBadBlock: Sendable, Hashable, CustomStringConvertible {
    /// The bad bytes, as offsets in the pool file.
    public var fileRange: Range<Int>
    /// The physical chunk they lie in; nil in the padding before the first chunk.
    public var physicalChunk: Int?
    /// The logical bytes (offsets in the pool's view) stored there; nil when
    /// no logical chunk uses that physical chunk now (a spare chunk, or the
    /// padding). Reading these bytes through the view may raise SIGBUS.
    public var logicalRange: Range<Int>?

    /// A short description naming the file and logical ranges.
    public var description: String {
        let file = "file bytes \(fileRange.lowerBound)..<\(fileRange.upperBound)"
        if let logicalRange { return "\(file) (logical bytes \(logicalRange.lowerBound)..<\(logicalRange.upperBound))" }
        if let physicalChunk { return "\(file) (spare physical chunk \(physicalChunk), holding no data now)" }
        return "\(file) (padding before the data chunks, unused)"
    }
}

/// The unsafe-shutdown count of the pool's device, compared at open with
/// the one recorded when the pool was last opened (as PMDK does).
public enum UnsafeShutdownCheck: Sendable, Hashable, CustomStringConvertible {
    /// The device offers no count (`memmap=` pmem, qemu's NVDIMM, tmpfs, a
    /// disk): an unclean shutdown of the device cannot be detected.
    case notOffered(reason: String)
    /// No earlier record for this pool: the count is recorded from now on.
    case firstRecorded(count: UInt64)
    /// The record names another device (the pool file was copied or moved,
    /// or the NVDIMMs were replaced): recorded anew, nothing to compare.
    case deviceChanged(count: UInt64)
    /// The record failed its checksum (torn by a crash while it was being
    /// written, or damaged): recorded anew; an unclean shutdown during the
    /// last open cannot be ruled out.
    case recordDamaged(count: UInt64)
    /// Same device; the count did not change while the pool was open.
    case clean(count: UInt64)
    /// The count changed, or the device did, while the pool was open: the
    /// device may have lost power without flushing its buffers, so stores
    /// the pool had made durable (flushed and fenced) may be lost. An open
    /// refuses such a pool (``/PMemSystem/PMemError/Code/uncleanShutdown``)
    /// unless asked to accept it; then recovery runs and the acceptance is
    /// recorded. The pool's checksums catch torn metadata, but data bytes
    /// may be stale.
    case unclean(previous: UInt64, now: UInt64)

    /// A plain sentence for reports.
    public var description: String {
        switch self {
        case .notOffered(let reason): "not offered (\(reason)); an unsafe shutdown of the device cannot be detected"
        case .firstRecorded(let count): "count \(count), recorded for the first time"
        case .deviceChanged(let count): "count \(count), recorded anew: the pool was last opened on another device"
        case .recordDamaged(let count): "count \(count), recorded anew: the earlier record was damaged, so an unsafe shutdown during the last open cannot be ruled out"
        case .clean(let count): "count \(count), no unsafe shutdown while the pool was open"
        case .unclean(let previous, let now): "UNSAFE SHUTDOWN accepted: the count was \(previous) when the pool was last opened and is \(now) (or the device changed) while the record said open; data not flushed by the device may be lost (recovery ran)"
        }
    }
}

/// The shutdown record in page 0 (docs/FORMAT.md, "Shutdown record").
struct ShutdownRecord: Equatable, Sendable {
    static let offset = 2048
    static let size = 64
    static let magic: [UInt8] = Array("PMSHUTDN".utf8)
    /// Version 2 added the accepted unclean shutdown (flags bit 1, bytes
    /// 32..<40); version 1 records are read as having none, and rewritten as
    /// version 2 by the open.
    static let version: UInt16 = 2

    var open: Bool
    var count: UInt64
    var deviceIDLength: UInt32
    var deviceIDChecksum: UInt32
    /// The device's count at the open that last accepted an unclean shutdown.
    var acceptedUnclean: UInt64?

    init(open: Bool, count: UInt64, deviceID: String, acceptedUnclean: UInt64? = nil) {
        self.open = open
        self.count = count
        self.acceptedUnclean = acceptedUnclean
        let id = Array(deviceID.utf8)
        deviceIDLength = UInt32(truncatingIfNeeded: id.count)
        deviceIDChecksum = id.withUnsafeBytes { CRC32C.checksum($0) }
    }

    func encoded() -> [UInt8] {
        .record(Self.size) { w in
            w.store(Self.magic, at: 0)
            w.store(Self.version, at: 8)
            w.store(UInt16(Self.size), at: 10)
            w.store(UInt32(open ? 1 : 0) | (acceptedUnclean == nil ? 0 : 2), at: 12)
            w.store(count, at: 16)
            w.store(deviceIDLength, at: 24)
            w.store(deviceIDChecksum, at: 28)
            w.store(acceptedUnclean ?? 0, at: 32)
            w.storeChecksum(of: 0..<60, at: 60)
        }
    }

    enum Decoded: Equatable { case none, damaged, record(ShutdownRecord) }

    /// Decodes the 64 bytes at ``offset``: all zero is no record; anything
    /// that fails magic, version, size, flags, reserved bytes or checksum is damaged.
    static func decode(_ b: UnsafeRawBufferPointer) -> Decoded {
        guard b.count >= size else { return .damaged }
        let r = LittleEndianReader(UnsafeRawBufferPointer(rebasing: b[0..<size]))
        if r.isZero(0..<size) { return .none }
        let u16 = { (o: Int) in r.load(UInt16.self, at: o) }, u32 = { (o: Int) in r.load(UInt32.self, at: o) }
        let version = u16(8), flags = u32(12)
        let accepted = flags & 2 != 0
        guard r.matches(magic, at: 0), version == 1 || version == Self.version, u16(10) == UInt16(size),
              flags <= (version == 1 ? 1 : 3), r.isZero((accepted ? 40 : 32)..<60),
              r.checksumMatches(0..<60, storedAt: 60) else { return .damaged }
        var record = ShutdownRecord(open: flags & 1 != 0, count: r.load(UInt64.self, at: 16), deviceID: "",
                                    acceptedUnclean: accepted ? r.load(UInt64.self, at: 32) : nil)
        record.deviceIDLength = u32(24)
        record.deviceIDChecksum = u32(28)
        return .record(record)
    }

    /// Writes the record into page 0 and makes it durable (one cache line:
    /// one flush, one fence).
    func store(_ base: UnsafeMutableRawPointer, persistence: PersistenceCalls) {
        encoded().withUnsafeBytes { persistence.copyAndFlush(base + Self.offset, $0.baseAddress!, Self.size) }
        persistence.drain()
    }
}

enum PoolMedia {
    /// The bad-block list of the file, or why there is none. Read before
    /// any metadata is.
    static func badBlockList(_ file: borrowing Mapping) -> Result<[BadBlock], PMemError> {
        do throws(PMemError) { return .success(try file.badBlocks()) } catch { return .failure(error) }
    }

    /// The ranges of `blocks` that meet `range`, clipped to it.
    static func overlaps(_ blocks: [BadBlock], _ range: Range<Int>) -> [Range<Int>] {
        blocks.compactMap { block in
            let r = block.fileOffset..<(block.fileOffset + max(block.length, 0))
            let clipped = r.clamped(to: range)
            return clipped.isEmpty ? nil : clipped
        }
    }

    static func refusal(_ ranges: [(String, Range<Int>)], path: FilePath?) -> PMemError {
        let named = ranges.map { "\($0.0) bytes \($0.1.lowerBound)..<\($0.1.upperBound)" }.joined(separator: ", ")
        return PMemError(.mediaError, "the pool's metadata lies on bad media (the device's bad-block list names \(named)); reading it could raise SIGBUS, so the pool is not opened. Clear the errors (ndctl clear-errors, which loses those bytes) or restore the pool from a copy",
                         path: path, fileOffset: ranges.first?.1.lowerBound)
    }

    /// Refuses the open if a bad block meets page 0 (header and shutdown
    /// record), then decodes the header and refuses if one meets the page
    /// table or a lane. Returns the layout.
    static func refuseBadMetadata(_ blocks: [BadBlock], _ bytes: UnsafeRawBufferPointer, path: FilePath?) throws(PMemError) -> PoolLayout {
        let page0 = overlaps(blocks, 0..<min(PoolLayout.pageTableOffset, bytes.count))
        if !page0.isEmpty { throw refusal(page0.map { ("header page", $0) }, path: path) }
        let layout = try PoolLayout.decode(bytes, fileSize: bytes.count, path: path)
        let table = PoolLayout.pageTableOffset..<(PoolLayout.pageTableOffset + layout.logicalChunks * 8)
        var bad = overlaps(blocks, table).map { ("page table", $0) }
        for lane in 0..<layout.laneCount {
            let start = layout.laneOffset(lane)
            bad += overlaps(blocks, start..<(start + layout.laneSize)).map { ("lane \(lane)", $0) }
        }
        if !bad.isEmpty { throw refusal(bad, path: path) }
        return layout
    }

    /// The bad blocks of the data area, split per physical chunk, each with
    /// the logical bytes it holds under `table` (logical -> physical).
    static func dataBadBlocks(_ blocks: [BadBlock], layout: PoolLayout, table: [Int]) -> [PoolBadBlock] {
        var logicalOf = [Int: Int]()
        for (l, p) in table.enumerated() { logicalOf[p] = l }
        let metadataEnd = layout.lanesOffset + layout.laneCount * layout.laneSize
        var result: [PoolBadBlock] = []
        for r in overlaps(blocks, metadataEnd..<layout.fileSize).sorted(by: { $0.lowerBound < $1.lowerBound }) {
            var at = r.lowerBound
            while at < r.upperBound {
                guard at >= layout.dataOffset else {
                    let end = min(r.upperBound, layout.dataOffset)
                    result.append(PoolBadBlock(fileRange: at..<end, physicalChunk: nil, logicalRange: nil))
                    at = end
                    continue
                }
                let p = (at - layout.dataOffset) / layout.chunkSize
                let end = min(r.upperBound, layout.chunkOffset(p + 1))
                let logical = logicalOf[p].map { l in
                    (l * layout.chunkSize + at - layout.chunkOffset(p))..<(l * layout.chunkSize + end - layout.chunkOffset(p))
                }
                result.append(PoolBadBlock(fileRange: at..<end, physicalChunk: p, logicalRange: logical))
                at = end
            }
        }
        return result
    }

    /// Compares the device's count with the record in page 0, as PMDK
    /// does: a record that says open with another count or another device is
    /// an unclean shutdown, refused with
    /// ``/PMemSystem/PMemError/Code/uncleanShutdown`` (nothing written, so
    /// the evidence stays) unless `acceptingUnclean`. Otherwise records the
    /// pool as open with the current count (nothing is written when the
    /// device offers no count). Runs before recovery.
    static func checkShutdown(_ base: UnsafeMutableRawPointer, fileSize: Int, device: DeviceShutdownCount,
                              acceptingUnclean: Bool, persistence: PersistenceCalls,
                              path: FilePath?) throws(PMemError) -> (UnsafeShutdownCheck, ShutdownRecord?) {
        guard let count = device.count else { return (.notOffered(reason: device.note), nil) }
        guard fileSize >= PoolLayout.pageTableOffset else { return (.notOffered(reason: "the file is too small"), nil) }
        var now = ShutdownRecord(open: true, count: count, deviceID: device.deviceID)
        let check: UnsafeShutdownCheck
        switch ShutdownRecord.decode(UnsafeRawBufferPointer(start: base + ShutdownRecord.offset, count: ShutdownRecord.size)) {
        case .none: check = .firstRecorded(count: count)
        case .damaged: check = .recordDamaged(count: count)
        case .record(let old):
            now.acceptedUnclean = old.acceptedUnclean
            let sameDevice = old.deviceIDLength == now.deviceIDLength && old.deviceIDChecksum == now.deviceIDChecksum
            if old.open && (!sameDevice || old.count != count) {
                guard acceptingUnclean else {
                    throw PMemError(.uncleanShutdown, sameDevice
                        ? "unsafe shutdown: the device's unsafe-shutdown count was \(old.count) when the pool was last opened and is \(count) now, and the pool was not closed: the device may have lost writes the pool had made durable. Nothing was changed. Open it accepting the unclean shutdown (Pool.open(at:acceptingUncleanShutdown: true), pmemctl --accept-unclean-shutdown) to recover it as it is, then check its data"
                        : "unsafe shutdown: the pool was open on another device (unsafe-shutdown count \(old.count) there) and was not closed: writes it had made durable may be lost. Nothing was changed. Open it accepting the unclean shutdown (Pool.open(at:acceptingUncleanShutdown: true), pmemctl --accept-unclean-shutdown) to recover it as it is, then check its data",
                        path: path, fileOffset: ShutdownRecord.offset)
                }
                check = .unclean(previous: old.count, now: count)
                now.acceptedUnclean = count
            } else if !sameDevice || old.count > count {
                check = .deviceChanged(count: count)
            } else {
                check = .clean(count: count)
            }
        }
        now.store(base, persistence: persistence)
        return (check, now)
    }
}
