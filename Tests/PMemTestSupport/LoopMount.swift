import Foundation
import SystemPackage
import Testing

/// A small file system on a loop device, for one test: made with `mkfs`,
/// mounted under /var/tmp, unmounted and removed at the end. Needs root and
/// loop devices; without them the test is skipped (``Skip``), saying why.
package final class LoopMount {
    package let image: String
    package let mountPoint: FilePath
    /// Mount options beside `loop` (e.g. `max_atomic_write=4m`).
    package let options: [String]
    private(set) var isMounted = false

    /// Makes and mounts the file system, or cancels the calling test;
    /// `skipNote` is added to the reason a skip prints.
    package init(mkfs: [String], sizeMiB: Int = 320, options: [String] = [], skipNote: String? = nil) throws {
        self.options = options
        let note = skipNote.map { " (\($0))" } ?? ""
        let id = "swift-pmem-loop-\(getpid())-\(UUID().uuidString.prefix(8))"
        image = "/var/tmp/\(id).img"
        mountPoint = FilePath("/var/tmp/\(id).mnt")
        if getuid() != 0 { try Skip.test(.needsRoot, "loop mounts need root (uid \(getuid()))\(note)") }
        guard FileManager.default.createFile(atPath: image, contents: nil),
              truncate(image, off_t(sizeMiB) << 20) == 0 else { try Skip.test(.loopDevice, "cannot make the image \(image)\(note)") }
        try FileManager.default.createDirectory(atPath: mountPoint.string, withIntermediateDirectories: true)
        if let failure = Self.run(mkfs + [image]) {
            cleanUp()
            try Skip.test(.loopDevice, "\(mkfs[0]) failed: \(failure)\(note)")
        }
        do { try mount() } catch {
            cleanUp()
            try Skip.test(.loopDevice, "cannot mount a loop device\(options.isEmpty ? "" : " with -o \(options.joined(separator: ","))"): \(error)\(note)")
        }
    }

    struct CommandFailed: Error, CustomStringConvertible { package var description: String }

    package func mount() throws {
        if let failure = Self.run(["mount", "-o", (["loop"] + options).joined(separator: ","), image, mountPoint.string]) { throw CommandFailed(description: failure) }
        isMounted = true
    }

    /// Mounts the file system again, read-only.
    package func remountReadOnly() throws {
        try unmount()
        if let failure = Self.run(["mount", "-o", (["loop", "ro"] + options).joined(separator: ","), image, mountPoint.string]) { throw CommandFailed(description: failure) }
        isMounted = true
    }

    package func unmount() throws {
        if let failure = Self.run(["umount", mountPoint.string]) { throw CommandFailed(description: failure) }
        isMounted = false
    }

    package func path(_ name: String) -> FilePath { mountPoint.appending(name) }

    private func cleanUp() {
        if isMounted { _ = Self.run(["umount", mountPoint.string]) }
        try? FileManager.default.removeItem(atPath: mountPoint.string)
        try? FileManager.default.removeItem(atPath: image)
    }

    deinit { cleanUp() }

    /// Runs a command from PATH; nil on success, else what went wrong.
    package static func run(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { return "\(arguments[0]): \(error)" }
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return process.terminationStatus == 0 ? nil : "\(arguments.joined(separator: " ")): exit \(process.terminationStatus): \(text)"
    }
}
