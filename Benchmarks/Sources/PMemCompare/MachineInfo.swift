import Foundation

/// The machine the numbers come from, recorded with them.
struct MachineInfo: Codable {
    /// `uname -srvm`: kernel name, release, version and architecture.
    var uname: String
    var kernelRelease: String
    var cpus: Int
    var cpuModel: String?
    /// "family F model M" of the first CPU (x86).
    var cpuFamilyModel: String?
    /// The flags that choose the persistence and checksum code paths, of
    /// those the CPU has: clflushopt, clwb, sse4_2, avx2, avx512f,
    /// vpclmulqdq, movdir64b.
    var cpuFlags: [String]
    /// The commit of swift-pmem measured (`git rev-parse HEAD` in the
    /// working directory; "-dirty" when it has changes), or nil outside a clone.
    var commit: String?

    static let relevantFlags = ["clflushopt", "clwb", "sse4_2", "avx2", "avx512f", "vpclmulqdq", "movdir64b"]

    static func current() -> MachineInfo {
        let kernel = kernelNames()
        let cpu = cpuInfo()
        return MachineInfo(uname: "\(kernel.sysname) \(kernel.release) \(kernel.version) \(kernel.machine)",
                           kernelRelease: kernel.release,
                           cpus: ProcessInfo.processInfo.activeProcessorCount,
                           cpuModel: cpu["model name"],
                           cpuFamilyModel: cpu["cpu family"].flatMap { f in cpu["model"].map { "family \(f) model \($0)" } },
                           cpuFlags: (cpu["flags"] ?? "").split(separator: " ").map(String.init).filter(relevantFlags.contains),
                           commit: gitCommit())
    }

    /// The first CPU's fields in /proc/cpuinfo (x86; empty elsewhere).
    private static func cpuInfo() -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break } // the first CPU's block ends
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    private static func gitCommit() -> String? {
        func run(_ arguments: [String]) -> String? {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return nil }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let head = run(["rev-parse", "HEAD"]) else { return nil }
        let dirty = !(run(["status", "--porcelain", "--untracked-files=no"]) ?? "").isEmpty
        return head + (dirty ? "-dirty" : "")
    }
}

/// uname(2)'s fields as strings (outside the type, where `uname` names the call).
private func kernelNames() -> (sysname: String, release: String, version: String, machine: String) {
    var names = utsname()
    guard uname(&names) == 0 else { return ("unknown", "unknown", "unknown", "unknown") }
    func string<T>(_ field: T) -> String {
        withUnsafeBytes(of: field) { bytes in String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }
    return (string(names.sysname), string(names.release), string(names.version), string(names.machine))
}
