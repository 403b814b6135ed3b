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
        typealias Field = PoolLayout.Field
        let w = LittleEndianWriter(image), r = w.reader
        w.storeChecksum(of: 0..<Field.checksum, at: Field.checksum)
        let u64 = { (o: Int) -> Int in Int(truncatingIfNeeded: r.load(UInt64.self, at: o)) }
        let logicalChunks = u64(Field.logicalChunks), lanesOffset = u64(Field.lanesOffset), laneSize = u64(Field.laneSize)
        let laneCount = Int(r.load(UInt32.self, at: Field.laneCount))
        // Every claimed size is checked before it is used: the fields are the fuzzer's.
        if logicalChunks >= 0, logicalChunks < image.count / 8, PoolLayout.pageTableEntryOffset(logicalChunks) <= image.count {
            for l in 0..<logicalChunks {
                let o = PoolLayout.pageTableEntryOffset(l)
                let physical = PageTableEntry.physical(ofWord: r.load(UInt64.self, at: o))
                w.store(PageTableEntry.encode(logical: l, physical: physical), at: o)
            }
        }
        guard laneSize > CommitRecord.headerSize, lanesOffset >= 0, laneCount <= PoolLayout.maxLanes else { return }
        for lane in 0..<laneCount {
            let (o, overflow) = lane.multipliedReportingOverflow(by: laneSize)
            guard !overflow, fits(lanesOffset, o, in: image.count), fits(lanesOffset + o, laneSize, in: image.count) else { break }
            let start = lanesOffset + o
            guard r.load(UInt64.self, at: start) == CommitRecord.magic else { continue }
            let bodyLength = r.load(UInt64.self, at: start + CommitRecord.bodyLengthOffset)
            guard bodyLength <= UInt64(laneSize - CommitRecord.headerSize) else { continue }
            // The body's part checksums and the header's (reserved bytes
            // are zeroed, as every record this library writes has them).
            CommitRecord.seal(image.baseAddress! + start, bodyLength: Int(bodyLength))
        }
    }
}
