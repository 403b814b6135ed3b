import Foundation
import Testing

/// The command-line tool, run as a user would run it.
@Suite("pmemctl")
struct PMemCtlTests {
    /// pmemctl is built next to the test bundle by `swift build --build-tests`.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("pmemctl")
    }

    struct Outcome { var status: Int32; var output: String; var errors: String }

    static func run(_ arguments: String...) throws -> Outcome {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: output, errors: errors)
    }

    @Test("create, verify, extents, unseal: the life of a sealed file from the command line")
    func lifeCycle() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build pmemctl first")
        let scratch = Scratch()
        let path = scratch.path("pool").string
        let created = try Self.run("create", path, "--size", "2M")
        #expect(created.status == 0, "\(created.errors)")
        #expect(created.output.contains("sealed: yes"))
        #expect(created.output.contains("extents: verified"))

        let again = try Self.run("create", path, "--size", "2M")
        #expect(again.status == 1)
        #expect(again.errors.contains("fileExists"))

        let extents = try Self.run("extents", path)
        #expect(extents.status == 0)
        let rows = extents.output.split(separator: "\n").dropFirst()
        #expect(rows.first?.hasPrefix("0 ") == true)
        #expect(rows.map { Int($0.split(separator: " ")[2])! }.reduce(0, +) == 2 << 20)

        #expect(try Self.run("unseal", path).status == 0)
        #expect(try Self.run("verify", path).output.contains("sealed: no"))
        let notSealed = try Self.run("extents", path)
        #expect(notSealed.status == 1)
        #expect(notSealed.errors.contains("notSealed"))
    }

    @Test("bad sizes and modes are refused with a message, before touching the disk",
          arguments: [["--size", "5000"], ["--size", "12Q"], ["--size", "1M", "--mode", "999"]])
    func badArguments(arguments: [String]) throws {
        let scratch = Scratch()
        let path = scratch.path("pool").string
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["create", path] + arguments
        process.standardError = Pipe()
        process.standardOutput = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("info reports the I/O facts of a mapping")
    func info() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.file("f", count: 8192)
        let info = try Self.run("info", path.string)
        #expect(info.status == 0)
        #expect(info.output.contains("store granularity:     page"))
        #expect(info.output.contains("hardware atomic unit:  8 bytes, 8-aligned"))
        #expect(info.output.contains("MAP_SYNC:              no"))
    }
}
