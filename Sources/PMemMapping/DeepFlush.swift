import PMemSystem
import SystemPackage
import Glibc

/// The deep flush, past the memory controller's write-pending queues, done
/// as libpmem2 1.12 does it but without a `pmem2_map` (see
/// `CacheFlushFunctions`): the CPU caches first, then
/// - a file on fsdax: `msync(MS_SYNC)` of the pages, which makes the kernel
///   flush the pmem device (its `REQ_PREFLUSH` reaches `nvdimm_flush`);
/// - device DAX: "1" written to its region's `deep_flush` file in sysfs,
///   where the region has one (no file: nothing to flush, as in libpmem2).
enum DeepFlush {
    static func sync(_ p: UnsafeRawPointer, _ count: Int, path: FilePath?) throws(PMemError) {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let address = Int(bitPattern: p), start = address & ~(pageSize - 1)
        while msync(UnsafeMutableRawPointer(bitPattern: start), count + (address - start), MS_SYNC) != 0 {
            let errno = Errno(rawValue: Glibc.errno)
            if errno == .interrupted { continue }
            throw PMemError.system(errno, "deep flush (msync)", path: path)
        }
    }

    /// Writes "1" to the `deep_flush` file of the region holding the device
    /// DAX `device` (its `st_rdev`), unless the region says none is needed.
    static func region(ofDevice device: UInt64, path: FilePath?) throws(PMemError) {
        guard let file = regionFile(ofDevice: device) else { return }
        let fd = open(file, O_RDWR)
        guard fd >= 0 else { return } // a region without deep flush (libpmem2 does the same)
        defer { close(fd) }
        var current: (UInt8, UInt8) = (0, 0)
        if withUnsafeMutableBytes(of: &current, { read(fd, $0.baseAddress, 2) }) == 2, current == (UInt8(ascii: "0"), 10) { return }
        guard pwrite(fd, "1", 1, 0) == 1 else {
            throw PMemError.system(Errno(rawValue: Glibc.errno), "deep flush (writing \(file))", path: path)
        }
    }

    /// `/sys/bus/nd/devices/regionN/deep_flush` for the region in the sysfs
    /// path of the character device `device`.
    private static func regionFile(ofDevice device: UInt64) -> String? {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        guard let resolved = realpath("/sys/dev/char/\(major):\(minor)", nil) else { return nil }
        defer { free(resolved) }
        let region = String(cString: resolved).split(separator: "/").last {
            $0.hasPrefix("region") && $0.dropFirst(6).allSatisfy(\.isNumber) && $0.count > 6
        }
        return region.map { "/sys/bus/nd/devices/\($0)/deep_flush" }
    }
}
