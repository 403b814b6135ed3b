import Foundation

/// Writes the results (machine, settings, every median and every repetition)
/// as JSON, and any file next to them, creating the directory if needed.
enum JSONOutput {
    static func write(_ results: some Encodable, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(results) + Data("\n".utf8)
        try writeFile(data, to: path)
    }

    static func writeFile(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }
}
