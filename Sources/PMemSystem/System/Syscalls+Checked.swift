package import CLinux
import Glibc
package import SystemPackage

// The calls that several layers make the same way, with their failures
// already turned into PMemError.
package extension Syscalls {
    /// A duplicate of `fd` (close-on-exec), for an object that owns its own
    /// descriptor while the caller keeps the original.
    static func duplicate(_ fd: CInt, path: FilePath?) throws(PMemError) -> CInt {
        switch dup(fd) {
        case .success(let value): return value
        case .failure(let errno): throw PMemError.system(errno, "duplicating the descriptor", path: path)
        }
    }

    static func status(_ fd: CInt, path: FilePath?) throws(PMemError) -> stat {
        switch fstat(fd) {
        case .success(let st): return st
        case .failure(let errno): throw PMemError.system(errno, "reading the file's status (fstat)", path: path)
        }
    }

    /// The inode attributes of `chattr` (`FS_IOC_GETFLAGS`).
    static func attributes(_ fd: CInt, path: FilePath?) throws(PMemError) -> CInt {
        var attributes: CInt = 0
        if case .failure(let errno) = ioctl(fd, clinux_FS_IOC_GETFLAGS, &attributes) {
            throw PMemError.system(errno, "reading the file's attributes (FS_IOC_GETFLAGS)", path: path)
        }
        return attributes
    }

    static func setAttributes(_ fd: CInt, _ value: CInt, path: FilePath?) throws(PMemError) {
        var attributes = value
        if case .failure(let errno) = ioctl(fd, clinux_FS_IOC_SETFLAGS, &attributes) {
            throw PMemError.system(errno, "setting the file's attributes (FS_IOC_SETFLAGS)", path: path)
        }
    }

    static func sync(_ fd: CInt, path: FilePath?, _ why: String) throws(PMemError) {
        if case .failure(let errno) = fsync(fd) {
            throw PMemError.system(errno, "\(why) (fsync)", path: path)
        }
    }
}
