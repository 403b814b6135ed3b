import Foundation

/// The machine the numbers come from, recorded with them.
struct MachineInfo: Codable {
    /// `uname -srvm`: kernel name, release, version and architecture.
    var uname: String
    var kernelRelease: String
    var cpus: Int
    var cpuModel: String?

    static func current() -> MachineInfo {
        let kernel = kernelNames()
        return MachineInfo(uname: "\(kernel.sysname) \(kernel.release) \(kernel.version) \(kernel.machine)",
                           kernelRelease: kernel.release,
                           cpus: ProcessInfo.processInfo.activeProcessorCount,
                           cpuModel: cpuModel())
    }

    /// The first "model name" of /proc/cpuinfo (x86; absent elsewhere).
    private static func cpuModel() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
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
