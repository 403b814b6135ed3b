// DMA extents: what a device would be given to read or write a sealed file
// directly (a scatter-gather list of device offsets), and, given the block
// device, a check that the device really holds the file's bytes there.
//
//   pmem-dma-extents FILE [DEVICE]
//
// FILE is created (4 MiB, sealed) if it does not exist, and a pattern is
// written through its mapping and persisted. The seal is checked again right
// before the list is printed: the kernel does not pin a file's blocks, the
// seal is a promise this library checks (see PhysicalExtent).
// DEVICE (for example /dev/pmem0 under an fsdax mount) is read at each
// physical offset, as a DMA engine would, and compared with the file.
import Glibc
import PMem

let args = CommandLine.arguments
guard (2...3).contains(args.count) else {
    print("usage: pmem-dma-extents FILE [DEVICE]")
    exit(2)
}
let path = FilePath(args[1])

func pattern(_ offset: Int) -> UInt64 { UInt64(offset) &* 0x9E37_79B9_7F4A_7C15 | 1 }

do {
    if access(path.string, F_OK) != 0 {
        let report = try SealedFile.create(at: path, size: 4 << 20)
        print("created \(path): \(report.size) bytes, sealed")
    }
    // Write a recognisable pattern through the mapping and make it durable.
    do {
        let map = try SealedFile.open(path).map()
        for offset in stride(from: 0, to: map.count, by: 4096) { try map.store(pattern(offset), at: offset) }
        try map.persist(0..<map.count)
    }
    // Check the seal again, then hand out the extents.
    let file = try SealedFile.open(path, access: .readOnly)
    guard file.report.extents.isVerified else {
        print("extents cannot be verified on \(file.report.fileSystem), so there is nothing a device could be given")
        print("(run this on ext4 or xfs, ideally an fsdax mount)")
        exit(1)
    }
    let extents = file.physicalExtents
    print("scatter-gather list for \(path) on \(file.report.fileSystem) (\(extents.count) extent\(extents.count == 1 ? "" : "s")):")
    print("  file offset      device offset    length")
    for e in extents { print("  \(e.logicalOffset)\t\t   \(e.physicalOffset)\t    \(e.length)") }

    if args.count == 3 {
        // Read the device where the list says, as a device doing DMA would.
        let device = open(args[2], O_RDONLY | O_CLOEXEC)
        guard device >= 0 else { print("cannot open \(args[2]): \(String(cString: strerror(errno)))"); exit(1) }
        defer { close(device) }
        var checked = 0, mismatched = 0
        for e in extents {
            for offset in stride(from: e.logicalOffset, to: e.logicalOffset + e.length, by: 4096) {
                var word: UInt64 = 0
                let n = pread(device, &word, 8, off_t(e.physicalOffset + offset - e.logicalOffset))
                checked += 1
                if n != 8 || word != pattern(offset) { mismatched += 1 }
            }
        }
        print("read \(checked) pages from \(args[2]) at the listed offsets: \(mismatched == 0 ? "every one holds the file's bytes" : "\(mismatched) DIFFER")")
        exit(mismatched == 0 ? 0 : 1)
    }
} catch {
    print("pmem-dma-extents: \(error)")
    exit(1)
}
