package import PMemSystem
import PMemMapping
import CLinux
package import SystemPackage

/// A file's extent map as `FIEMAP` reports it, normalized so that the same
/// block map always gives the same list: adjacent extents that continue each
/// other both in the file and on the device, with the same flags, are merged.
package struct ExtentMap: Sendable, Equatable {
    package var extents: [PhysicalExtent]

    /// Reads the extents covering `[0, size)` with `FIEMAP_FLAG_SYNC` (which
    /// writes back dirty data first, so no delayed allocation is left).
    /// Returns `nil` when the file system has no `FIEMAP` (tmpfs, 9p, …).
    /// `batch` is how many extents one `FIEMAP` call may return.
    package static func read(_ fd: CInt, size: Int, path: FilePath?, batch: Int = 256) throws(PMemError) -> ExtentMap? {
        let headerSize = MemoryLayout<fiemap>.size
        let extentSize = MemoryLayout<fiemap_extent>.size
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: headerSize + batch * extentSize, alignment: 8)
        defer { buffer.deallocate() }

        var raw: [PhysicalExtent] = []
        var start = 0
        while start < size {
            buffer.initializeMemory(as: UInt8.self, repeating: 0, count: headerSize + batch * extentSize)
            let header = buffer.bindMemory(to: fiemap.self, capacity: 1)
            header.pointee.fm_start = UInt64(start)
            header.pointee.fm_length = UInt64(size - start)
            header.pointee.fm_flags = UInt32(FIEMAP_FLAG_SYNC)
            header.pointee.fm_extent_count = UInt32(batch)
            switch Syscalls.ioctl(fd, clinux_FS_IOC_FIEMAP, buffer) {
            case .success: break
            case .failure(let errno) where errno == .notSupported || errno == .inappropriateIOCTLForDevice:
                return nil
            case .failure(let errno):
                throw PMemError.system(errno, "reading the extent map (FIEMAP)", path: path)
            }
            let mapped = Int(header.pointee.fm_mapped_extents)
            if mapped == 0 { break }
            var sawLast = false
            for i in 0..<mapped {
                let e = (buffer + headerSize + i * extentSize).load(as: fiemap_extent.self)
                let extent = PhysicalExtent(
                    logicalOffset: Int(e.fe_logical), physicalOffset: Int(e.fe_physical),
                    length: Int(e.fe_length), flags: ExtentFlags(rawValue: e.fe_flags))
                raw.append(extent)
                start = extent.logicalOffset + extent.length
                if extent.flags.contains(.last) { sawLast = true }
            }
            if sawLast || mapped < batch { break }
        }
        return ExtentMap(normalizing: raw)
    }

    package init(normalizing raw: [PhysicalExtent]) {
        var out: [PhysicalExtent] = []
        for var e in raw {
            e.flags.subtract(ExtentFlags.reportingOnly)
            if var prev = out.last,
               prev.logicalOffset + prev.length == e.logicalOffset,
               prev.physicalOffset + prev.length == e.physicalOffset,
               prev.flags == e.flags {
                prev.length += e.length
                out[out.count - 1] = prev
            } else {
                out.append(e)
            }
        }
        extents = out
    }

    /// Checks that the extents cover `[0, size)` with written, unshared,
    /// plainly stored blocks; throws the first problem with its file offset.
    package func check(size: Int, path: FilePath?) throws(PMemError) {
        var next = 0
        for e in extents where e.logicalOffset < size {
            if e.logicalOffset > next {
                throw PMemError(.hole, "no blocks are allocated for file bytes [\(next), \(e.logicalOffset)): the file is sparse or has a punched hole; write every byte (SealedFile.create does) before sealing",
                                path: path, fileOffset: next)
            }
            try Self.check(e.flags, at: e.logicalOffset, path: path)
            next = max(next, e.logicalOffset + e.length)
        }
        if next < size {
            throw PMemError(.hole, "no blocks are allocated for file bytes [\(next), \(size)): the file is sparse at its end; write every byte before sealing",
                            path: path, fileOffset: next)
        }
    }

    private static func check(_ flags: ExtentFlags, at offset: Int, path: FilePath?) throws(PMemError) {
        let problems: [(ExtentFlags, PMemError.Code, String)] = [
            (.unknown, .unknownExtent, "the file system cannot say where this extent's data lives"),
            (.delayedAllocation, .delayedAllocation, "this extent has no blocks yet (delayed allocation)"),
            ([.encoded, .encrypted], .encodedExtent, "this extent is encoded (compressed or encrypted) and cannot be mapped directly"),
            (.inline, .inlineData, "this data is stored inline in file-system metadata, not in blocks"),
            ([.notAligned, .tail], .unalignedExtent, "this extent is not block-aligned (tail packing)"),
            (.unwritten, .unwrittenExtent, "this extent is allocated but unwritten (as fallocate leaves it): the first write to it changes the block map; write every byte before sealing"),
            (.shared, .sharedExtent, "this extent is shared with another file (reflink): the next write would copy it elsewhere"),
        ]
        for (flag, code, why) in problems where !flags.isDisjoint(with: flag) {
            throw PMemError(code, "file offset \(offset): \(why)", path: path, fileOffset: offset)
        }
    }

    /// CRC-32C over the normalized extents (each as logical, physical and
    /// length as 64-bit little-endian, then the flags as 32-bit), limited to
    /// those that start below `size`.
    package func digest(size: Int) -> UInt32 {
        var bytes: [UInt8] = []
        for e in extents where e.logicalOffset < size {
            for v in [UInt64(e.logicalOffset), UInt64(e.physicalOffset), UInt64(e.length)] {
                withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
            }
            withUnsafeBytes(of: e.flags.rawValue.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return CRC32C.checksum(bytes)
    }
}
