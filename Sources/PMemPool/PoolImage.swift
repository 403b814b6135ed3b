package import PMemSystem
import PMemMapping
import PMemSealing
/// A pool file's bytes in memory: checked the way `Pool.open` checks the
/// file (the same code), without a file, a lock or a view. The
/// fuzzer (`Sources/PMemFuzz`) and the corruption tests drive the open path
/// through here.
package enum PoolImage {
    /// Runs the metadata steps of `Pool.open` on the image (changing it as
    /// recovery changes the file). Returns the commits recovery replayed and
    /// the page table.
    package static func check(_ image: UnsafeMutableRawBufferPointer) throws(PMemError) -> (recovered: Int, pageTable: [Int]) {
        let (_, recovered, table) = try Pool.openMetadata(image, persistence: .none, path: nil)
        return (recovered, table)
    }

    /// The logical contents of a checked image: capacity bytes, chunk by
    /// chunk through the page table.
    package static func contents(_ image: UnsafeRawBufferPointer, pageTable: [Int]) throws(PMemError) -> [UInt8] {
        let layout = try PoolLayout.decode(image, fileSize: image.count, path: nil)
        var out: [UInt8] = []
        out.reserveCapacity(layout.capacity)
        for physical in pageTable {
            let start = layout.chunkOffset(physical)
            out += image[start..<start + layout.chunkSize]
        }
        return out
    }

    /// Where the metadata of a pool image ends (its first data chunk).
    package static func metadataEnd(_ image: UnsafeRawBufferPointer) throws(PMemError) -> Int {
        try PoolLayout.decode(image, fileSize: image.count, path: nil).dataOffset
    }

    /// Recomputes whatever checksums the image's own fields allow: the
    /// header's, every page-table entry's (over the physical chunk it names)
    /// and, where a lane starts with the commit magic, the record's checksum
    /// (over header and body). A fuzzer uses this to get past the checksums to
    /// the range checks behind them.
    package static func resealChecksums(_ image: UnsafeMutableRawBufferPointer) {
        guard image.count >= PoolLayout.headerSize else { return }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: image[0..<124]))
        image.storeBytes(of: crc.littleEndian, toByteOffset: 124, as: UInt32.self)
        let u64 = { (o: Int) -> Int in Int(truncatingIfNeeded: UInt64(littleEndian: image.loadUnaligned(fromByteOffset: o, as: UInt64.self))) }
        let logicalChunks = u64(24), lanesOffset = u64(64), laneSize = u64(48)
        let laneCount = Int(UInt32(littleEndian: image.loadUnaligned(fromByteOffset: 40, as: UInt32.self)))
        let tableEnd = PoolLayout.pageTableOffset &+ 8 &* logicalChunks
        if logicalChunks >= 0, logicalChunks < image.count / 8, tableEnd <= image.count {
            for l in 0..<logicalChunks {
                let o = PoolLayout.pageTableOffset + 8 * l
                let physical = Int(UInt32(truncatingIfNeeded: UInt64(littleEndian: image.loadUnaligned(fromByteOffset: o, as: UInt64.self))))
                image.storeBytes(of: PageTableEntry.encode(logical: l, physical: physical).littleEndian, toByteOffset: o, as: UInt64.self)
            }
        }
        guard laneSize > PoolLayout.commitRecordSize, lanesOffset >= 0, laneCount <= 1024 else { return }
        for lane in 0..<laneCount {
            let o = lanesOffset &+ lane &* laneSize
            guard o >= 0, o <= image.count - laneSize,
                  image.loadUnaligned(fromByteOffset: o, as: UInt64.self) == CommitRecord.magic.littleEndian else { continue }
            let bodyLength = UInt64(littleEndian: image.loadUnaligned(fromByteOffset: o + 24, as: UInt64.self))
            guard bodyLength <= UInt64(laneSize - CommitRecord.headerSize) else { continue }
            // The body's part checksums and the header's (reserved bytes
            // are zeroed, as every record this library writes has them).
            CommitRecord.seal(image.baseAddress! + o, bodyLength: Int(bodyLength))
        }
    }
}
