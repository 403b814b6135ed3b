import Glibc
import SystemPackage

/// The files a run makes, so that they can all be removed at the end, on
/// failure too: pools of up to 5 GiB must not be left in /dev/shm.
final class Scratch {
    let directory: String
    private var paths: [String] = []

    init(directory: String) {
        self.directory = directory
    }

    /// A new path in the directory, registered for removal.
    func path(_ name: String) -> String {
        let path = FilePath(directory).appending("pmem-compare-\(getpid())-\(name)").string
        paths.append(path)
        return path
    }

    func remove(_ path: String) {
        _ = unlink(path)
        paths.removeAll { $0 == path }
    }

    func removeAll() {
        for path in paths { _ = unlink(path) }
        paths = []
    }
}
