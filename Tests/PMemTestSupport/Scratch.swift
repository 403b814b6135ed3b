import CLinux
import Foundation
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemSealing
@testable import PMemPool
import PMem
import SystemPackage
import Testing

/// The directory the tests use for ext4: `/var/tmp` on this machine and in
/// CI; inside `scripts/dax-vm --no-dax` (Debian's kernel), its ext4 mount.
package let ext4TestDirectory = ProcessInfo.processInfo.environment["SWIFT_PMEM_TEST_EXT4_DIR"] ?? "/var/tmp"

/// A fresh directory for one test, removed when the test is done.
package final class Scratch {
    package let directory: FilePath

    /// A directory under `base`: `/var/tmp` is on the machine's own file
    /// system (ext4 here and in CI), `/dev/shm` is tmpfs.
    package init(on base: String = ext4TestDirectory, _ name: String = #function) {
        let unique = "swift-pmem-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        directory = FilePath(base).appending(unique)
        try! FileManager.default.createDirectory(atPath: directory.string, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory.string) }

    package func path(_ name: String) -> FilePath { directory.appending(name) }

    /// Writes `count` bytes of `byte` to a new file and returns its path.
    @discardableResult
    package func file(_ name: String, count: Int, byte: UInt8 = 0) -> FilePath {
        let p = path(name)
        FileManager.default.createFile(atPath: p.string, contents: Data(repeating: byte, count: count))
        return p
    }

    /// The file system type of the directory (`statfs.f_type`).
    package var fileSystemMagic: Int {
        var s = statfs()
        _ = statfs(directory.string, &s)
        return Int(s.f_type)
    }

    /// A scratch directory on ext4 (the machine's own file system), or the
    /// calling test is cancelled, saying why.
    package static func ext4(_ name: String = #function) throws -> Scratch {
        let scratch = Scratch(on: ext4TestDirectory, name)
        if scratch.fileSystemMagic != FileSystemKind.ext4 {
            try Skip.test(.wrongFileSystem, "needs /var/tmp on ext4; it is \(FileSystemKind.name(scratch.fileSystemMagic))")
        }
        return scratch
    }
}

/// Reads a file with plain `read(2)`, bypassing any mapping.
package func readFile(_ path: FilePath) -> [UInt8] {
    [UInt8](FileManager.default.contents(atPath: path.string) ?? Data())
}
