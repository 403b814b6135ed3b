import Foundation
import PMem
import PMemTestSupport
import Testing

/// The command-line contract of `pmemctl` (README, "pmemctl"), run as a user
/// or a script would run it: every subcommand, the JSON keys, exit status 0
/// on success, 1 on refused, invalid or corrupt input, 2 on usage errors.
@Suite("pmemctl")
struct PMemCtlTests {
    struct Outcome {
        var status: Int32; var output: String; var errors: String; var data: Data
        /// The output as a JSON object.
        func json() throws -> [String: Any] {
            try #require(JSONSerialization.jsonObject(with: data) as? [String: Any], "not a JSON object: \(output)")
        }
    }

    /// Runs an executable built next to the test bundle by `swift build --build-tests`.
    /// `environment` adds variables for the child only: setting them in this
    /// process would reach tests running in parallel.
    static func run(_ arguments: [String], input: Data? = nil, program: String = "pmemctl",
                    environment: [String: String] = [:]) throws -> Outcome {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(program)
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build \(program) first")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe(), stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(input) }
        try stdin.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self), errors: errors, data: data)
    }

    static func run(_ arguments: String...) throws -> Outcome { try run(arguments) }

    // MARK: Sealed files

    @Test("seal --size creates and seals; verify, extents --json, unseal, and verify exits 1 once unsealed")
    func sealedFileLifeCycle() throws {
        let scratch = try Scratch.ext4()
        let path = scratch.path("f").string
        let missing = try Self.run("seal", path)
        #expect(missing.status == 1)
        #expect(missing.errors.contains("fileNotFound") && missing.errors.contains("--size"))

        let created = try Self.run("seal", path, "--size", "2M")
        #expect(created.status == 0, "\(created.errors)")
        #expect(created.output.contains("sealed: yes"))
        #expect(try Self.run("verify", path).status == 0)

        let extents = try Self.run("extents", path, "--json").json()
        #expect(extents["extents_verified"] as? Bool == true)
        let list = try #require(extents["extents"] as? [[String: Any]])
        #expect(list.first?["logical_offset"] as? Int == 0)
        #expect(list.compactMap { $0["length"] as? Int }.reduce(0, +) == 2 << 20)
        #expect(list.allSatisfy { ($0["physical_offset"] as? Int ?? -1) > 0 && $0["flags"] is String })

        let resized = try Self.run("seal", path, "--size", "4M")
        #expect(resized.status == 1, "a size that differs from the file's is refused")
        #expect(try Self.run("unseal", path).status == 0)
        let unsealed = try Self.run("verify", path)
        #expect(unsealed.status == 1)
        #expect(unsealed.errors.contains("notSealed"))
        #expect(try Self.run("extents", path).errors.contains("notSealed"))
        // Sealing an existing, fully written file.
        #expect(try Self.run("seal", path).status == 0)
        #expect(try Self.run("verify", path).status == 0)
    }

    @Test("verify exits 1, with the reason, for a file whose size changed after sealing")
    func verifyFindsDamage() throws {
        let scratch = try Scratch.ext4()
        let path = scratch.path("f").string
        #expect(try Self.run("create", path, "--size", "1M").status == 0)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 2 << 20)
        try handle.close()
        let result = try Self.run("verify", path)
        #expect(result.status == 1)
        #expect(result.errors.hasPrefix("pmemctl: sizeChanged"), "\(result.errors)")
        #expect(!result.errors.contains("Fatal error"))
    }

    @Test("info --json: granularity, MAP_SYNC, seal and extent state, sizes, atomic units", arguments: [
        ("/dev/shm", true, "unsupported"), ("/var/tmp", true, "true"), ("/var/tmp", false, "false"),
    ])
    func infoJSON(base: String, sealed: Bool, extents: String) throws {
        let scratch = Scratch(on: base)
        let path = scratch.path("f").string
        if sealed {
            #expect(try Self.run("seal", path, "--size", "64K").status == 0)
        } else {
            // A sparse file: its extents are not ones a seal would accept.
            FileManager.default.createFile(atPath: path, contents: nil)
            let handle = try #require(FileHandle(forWritingAtPath: path))
            try handle.truncate(atOffset: 65536)
            try handle.close()
        }
        let info = try Self.run("info", path, "--json").json()
        #expect(info["granularity"] as? String == "page")
        #expect(info["map_sync"] as? Bool == false)
        #expect(info["sealed"] as? Bool == sealed)
        #expect(info["size"] as? Int == 65536)
        #expect(info["atomic_write_unit"] as? Int == 8)
        #expect(info["max_atomic_write"] as? Int == 8)
        #expect(info["persistence"] as? String == (base == "/dev/shm" ? "memory_only" : "msync"))
        switch extents {
        case "unsupported": #expect(info["extents_verified"] as? String == "unsupported")
        default: #expect(info["extents_verified"] as? Bool == (extents == "true"))
        }
        let text = try Self.run("info", path)
        #expect(text.output.contains("store granularity:     page"))
        #expect(text.output.contains("hardware atomic unit:  8 bytes, 8-aligned"))
    }

    @Test("info under PMEM2_FORCE_GRANULARITY reports cache_line and a forced (not durable) domain")
    func infoForced() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.file("f", count: 8192).string
        let info = try Self.run(["info", path, "--json"], environment: ["PMEM2_FORCE_GRANULARITY": "CACHE_LINE"]).json()
        #expect(info["granularity"] as? String == "cache_line")
        #expect(info["persistence"] as? String == "forced")
        #expect(info["durable"] as? Bool == false)
    }

    // MARK: Pools

    @Test("pool create, info --json (geometry and metadata ranges), write from stdin and a file, read, check")
    func poolLifeCycle() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = scratch.path("pool").string
        let created = try Self.run("pool", "create", pool, "--capacity", "1M", "--chunk", "64K", "--spare", "256K")
        #expect(created.status == 0, "\(created.errors)")

        let info = try Self.run("pool", "info", pool, "--json").json()
        #expect(info["capacity"] as? Int == 1 << 20)
        #expect(info["chunk_size"] as? Int == 64 << 10)
        #expect(info["spare"] as? Int == 256 << 10)
        #expect(info["max_atomic_write"] as? Int == 256 << 10)
        #expect(info["granularity"] as? String == "page")
        #expect(info["sealed"] as? Bool == true)
        let metadata = try #require(info["metadata"] as? [[Int]])
        #expect(metadata.count == 3)
        #expect(metadata.first == [0, 128], "the header")
        #expect(metadata[1] == [4096, 16 * 8], "one page-table word per logical chunk")
        #expect(metadata.allSatisfy { $0.count == 2 && $0[1] > 0 })
        let statistics = try #require(info["statistics"] as? [String: Any])
        #expect(statistics["commits"] as? Int == 0)
        // tmpfs: no bad-block list, no unsafe-shutdown count, said plainly.
        #expect(info["bad_blocks"] as? String == "not_tracked")
        #expect(info["unsafe_shutdowns"] as? String == "not_offered")
        #expect(info["unsafe_shutdown_check"] as? String == "not_offered")
        #expect(info["unclean_shutdown"] as? Bool == false)

        let small = Data("hello, pool".utf8)
        let wrote = try Self.run(["pool", "write", pool, "--offset", "100", "--json"], input: small)
        #expect(wrote.status == 0, "\(wrote.errors)")
        #expect(try wrote.json()["log_bytes"] as? Int ?? 0 > 0, "a small partial-chunk write is logged")
        // Counted from outside the library. tmpfs's mapping flushes with
        // msync: one sync (the record, the apply deferred to the next sync).
        // Where flushes are cache-line ones: the record's flush and fence, the apply's.
        let fences = try wrote.json()["counted_fences"] as? Int
        let flushes = try wrote.json()["counted_flush_calls"] as? Int
        if getenv("PMEM2_FORCE_GRANULARITY") == nil {
            #expect(fences == 1 && flushes == 1, "\(String(describing: fences)) fences, \(String(describing: flushes)) flush calls")
        } else {
            #expect(fences == 2 && flushes == 2, "\(String(describing: fences)) fences, \(String(describing: flushes)) flush calls")
        }
        #expect(try Self.run("pool", "read", pool, "--offset", "100", "--length", "\(small.count)").data == small)

        let big = Data((0..<(128 << 10)).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let file = scratch.path("input").string
        try big.write(to: URL(fileURLWithPath: file))
        let wroteBig = try Self.run("pool", "write", pool, "--offset", "64K", "--input", file, "--json")
        #expect(try wroteBig.json()["remaps"] as? Int == 2, "two whole chunks are remapped")
        #expect(try Self.run("pool", "read", pool, "--offset", "64K", "--length", "128K").data == big)

        let check = try Self.run("pool", "check", pool)
        #expect(check.status == 0, "\(check.errors)")
        #expect(check.output.hasPrefix("clean"))
    }

    @Test("pool copy makes a new sealed pool with the source's geometry and logical contents (remapped chunks included); cp does not; --json on create, verify and pool check, errors as JSON too")
    func poolCopy() throws {
        let scratch = try Scratch.ext4()
        let source = scratch.path("source").string, copy = scratch.path("copy").string
        let created = try Self.run("pool", "create", source, "--capacity", "1M", "--chunk", "64K", "--spare", "256K", "--lanes", "3", "--json")
        #expect(created.status == 0, "\(created.errors)")
        #expect(try created.json()["ok"] as? Bool == true)
        #expect(try created.json()["chunk_size"] as? Int == 65536)
        let small = Data("copied, not cp'd".utf8)
        let chunks = Data((0..<(128 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) })
        #expect(try Self.run(["pool", "write", source, "--offset", "1000"], input: small).status == 0)
        #expect(try Self.run(["pool", "write", source, "--offset", "192K"], input: chunks).status == 0) // two chunks remapped
        let before = try Self.run("pool", "read", source, "--offset", "0", "--length", "1M").data

        let copied = try Self.run("pool", "copy", source, copy, "--json")
        #expect(copied.status == 0, "\(copied.errors)")
        let json = try copied.json()
        #expect(json["capacity"] as? Int == 1 << 20 && json["chunk_size"] as? Int == 65536)
        #expect(json["spare"] as? Int == 256 << 10 && json["lanes"] as? Int == 3)
        #expect(try Self.run("pool", "read", copy, "--offset", "0", "--length", "1M").data == before)
        #expect(try Self.run("pool", "read", source, "--offset", "0", "--length", "1M").data == before, "the source is unchanged")
        let verified = try Self.run("verify", copy, "--json")
        #expect(verified.status == 0)
        #expect(try verified.json()["sealed"] as? Bool == true)
        #expect(try verified.json()["extents_verified"] as? Bool == true)
        let check = try Self.run("pool", "check", copy, "--json")
        #expect(check.status == 0)
        #expect(try check.json()["lanes"] as? Int == 3)
        #expect(try check.json()["recovered_commits"] as? Int == 0)

        // The destination exists: refused, as JSON on stdout and a line on stderr, nothing changed.
        let again = try Self.run("pool", "copy", source, copy, "--json")
        #expect(again.status == 1)
        #expect(try again.json()["ok"] as? Bool == false)
        #expect(try again.json()["code"] as? String == "fileExists")
        #expect(again.errors.contains("fileExists"))
        #expect(try Self.run("pool", "read", copy, "--offset", "0", "--length", "1M").data == before)
        // A missing source leaves no destination.
        let missing = try Self.run("pool", "copy", scratch.path("nothing").string, scratch.path("never").string)
        #expect(missing.status == 1)
        #expect(!FileManager.default.fileExists(atPath: scratch.path("never").string))

        // What cp gives: the bytes, without a seal that matches them.
        let plain = scratch.path("plain").string
        try FileManager.default.copyItem(atPath: source, toPath: plain)
        let refused = try Self.run("verify", plain, "--json")
        #expect(refused.status == 1)
        #expect(try refused.json()["ok"] as? Bool == false)
        #expect(try Self.run("pool", "check", plain).status == 1)
    }

    @Test("pool write refuses what it cannot make atomic, and changes nothing", arguments: [
        (["--offset", "1020K"], 8192, "outOfBounds"),      // past the capacity
        (["--offset", "0"], 512 << 10, "updateTooLarge"),  // more than the spare capacity
        (["--offset", "0"], 0, "invalidArgument"),         // nothing to write
    ])
    func poolWriteRefused(arguments: [String], size: Int, code: String) throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = scratch.path("pool").string
        #expect(try Self.run("pool", "create", pool, "--capacity", "1M", "--chunk", "64K", "--spare", "256K").status == 0)
        let result = try Self.run(["pool", "write", pool] + arguments, input: Data(repeating: 9, count: size))
        #expect(result.status == 1)
        #expect(result.errors.contains(code), "\(result.errors)")
        #expect(try Self.run("pool", "read", pool, "--offset", "0", "--length", "1M").data == Data(count: 1 << 20))
    }

    @Test("pool info, read and check --read-only work while another process writes the pool, which they leave alone; without it they get poolBusy")
    func readOnlyBesideAWriter() throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("pool").string
        let writer = try Pool.create(at: path, capacity: 1 << 20, chunkSize: 64 << 10, spareCapacity: 128 << 10)
        try writer.write([UInt8](repeating: 0x41, count: 100), at: 70_000)
        #expect(try Self.run("pool", "read", path, "--offset", "70000", "--length", "100").status == 1)   // the writer's lock
        let read = try Self.run("pool", "read", path, "--read-only", "--offset", "70000", "--length", "100")
        #expect(read.status == 0 && read.data == Data(repeating: 0x41, count: 100), "\(read.errors)")
        let info = try Self.run("pool", "info", path, "--read-only", "--json")
        #expect(info.status == 0, "\(info.errors)")
        let fields = try info.json()
        #expect(fields["read_only"] as? Bool == true && fields["capacity"] as? Int == 1 << 20 && fields["chunk_size"] as? Int == 64 << 10)
        #expect(fields["lanes_with_valid_records"] is [Any])
        let check = try Self.run("pool", "check", path, "--read-only", "--json")
        #expect(check.status == 0, "\(check.errors)")
        #expect(try check.json()["ok"] as? Bool == true)
        // The writer goes on: nothing the readers did stands in its way.
        try writer.write([UInt8](repeating: 0x42, count: 100), at: 70_000)
        #expect(try Self.run("pool", "read", path, "--read-only", "--offset", "70000", "--length", "100").data == Data(repeating: 0x42, count: 100))
    }

    @Test("pool check exits 1 and names the damage when a page-table entry is corrupt; pool info refuses too")
    func poolCheckFindsCorruption() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = scratch.path("pool").string
        #expect(try Self.run("pool", "create", pool, "--capacity", "1M", "--chunk", "64K", "--spare", "256K").status == 0)
        let handle = try #require(FileHandle(forUpdatingAtPath: pool))
        try handle.seek(toOffset: 4096 + 8 * 3)
        try handle.write(contentsOf: Data([0xFF]))
        try handle.close()
        let check = try Self.run("pool", "check", pool)
        #expect(check.status == 1)
        #expect(check.errors.contains("poolCorrupt"))
        #expect(check.errors.contains("at file offset \(4096 + 24)"))
        #expect(try Self.run("pool", "info", pool).status == 1)
        #expect(try Self.run("pool", "check", scratch.file("plain", count: 4096).string).errors.contains("notSealed"))
    }

    @Test("an unsafe shutdown while the pool was open: pool commands refuse it until --accept-unclean-shutdown, which is recorded")
    func uncleanShutdown() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = scratch.path("pool").string
        // The device id and count come from the debug build's seam.
        let at = { (count: Int) in ["SWIFT_PMEM_INJECTED_SHUTDOWN_COUNT": "dimm-a:\(count)"] }
        #expect(try Self.run(["pool", "create", pool, "--capacity", "1M", "--chunk", "64K", "--quiet"], environment: at(3)).status == 0)
        let page0 = { () throws -> Data in try Data(contentsOf: URL(fileURLWithPath: pool)).prefix(4096) }
        let closed = try page0()
        // A record that says open (as a power loss while open leaves it), then a changed count.
        var open = closed
        open[2048 + 12] = 1
        let crc = open.withUnsafeBytes { Self.crc32c(UnsafeRawBufferPointer(rebasing: $0[2048..<(2048 + 60)])) }
        withUnsafeBytes(of: crc.littleEndian) { open.replaceSubrange((2048 + 60)..<(2048 + 64), with: $0) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: pool))
        try handle.write(contentsOf: open)
        try handle.close()
        for command in [["pool", "info", pool, "--json"], ["pool", "check", pool], ["pool", "read", pool, "--offset", "0", "--length", "1"]] {
            let refused = try Self.run(command, environment: at(4))
            #expect(refused.status == 1, "\(command)")
            #expect(refused.errors.contains("uncleanShutdown") && refused.errors.contains("--accept-unclean-shutdown"), "\(refused.errors)")
        }
        #expect(try page0() == open, "a refused open wrote nothing")
        let accepted = try Self.run(["pool", "info", pool, "--json", "--accept-unclean-shutdown"], environment: at(4))
        #expect(accepted.status == 0, "\(accepted.errors)")
        let info = try accepted.json()
        #expect(info["unsafe_shutdown_check"] as? String == "unclean")
        #expect(info["accepted_unclean_shutdown"] as? Int == 4)
        let later = try Self.run(["pool", "info", pool, "--json"], environment: at(4)).json()
        #expect(later["unsafe_shutdown_check"] as? String == "clean")
        #expect(later["accepted_unclean_shutdown"] as? Int == 4)
    }

    /// CRC-32C (Castagnoli), bit by bit: the record's checksum, computed
    /// here without the library.
    static func crc32c(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    // MARK: Usage

    @Test("usage errors exit 2 with a message, never a crash", arguments: [
        ["frobnicate"], ["seal"], ["seal", "X", "--size", "12Q"], ["pool", "create", "X"],
        ["pool", "write", "X"], ["pool", "read", "X", "--offset", "0"],
        ["create", "X", "--size", "1M", "--mode", "999"], ["info", "X", "--yaml"],
    ])
    func usageErrors(arguments: [String]) throws {
        let scratch = Scratch(on: "/dev/shm")
        let path = scratch.path("x").string
        let result = try Self.run(arguments.map { $0 == "X" ? path : $0 })
        #expect(result.status == 2, "\(arguments): \(result.errors)")
        #expect(!result.errors.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("bad sizes that parse but cannot be honoured are refused with status 1, before touching the disk",
          arguments: [["--size", "5000"], ["--size", "0"]])
    func refusedSizes(arguments: [String]) throws {
        let scratch = Scratch()
        let path = scratch.path("f").string
        let result = try Self.run(["create", path] + arguments)
        #expect(result.status == 1)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("--help exits 0 and lists every subcommand")
    func help() throws {
        let help = try Self.run("--help")
        #expect(help.status == 0)
        for command in ["info", "seal", "unseal", "verify", "extents", "pool", "demo"] {
            #expect(help.output.contains("  \(command)"), "\(command) missing from --help")
        }
        #expect(!help.output.contains("demo-crash-child"))
    }

    @Test("help shows defaults as they are typed: 2M and auto, not a Swift value")
    func helpDefaults() throws {
        let help = try Self.run("pool", "create", "--help")
        #expect(help.status == 0)
        #expect(help.output.contains("(default: 2M)"))
        #expect(help.output.contains("(default: auto)"))
        #expect(!help.output.contains("ByteCount("))
        #expect(!help.output.contains("PlacementArgument("))
    }

    // MARK: Demo and examples

    /// Also on libpmem2's cache flushes (forced), where an open races the
    /// in-place word's two methods: the child's fences are the write's, not
    /// the race's (it was once killed inside the open, all old both times).
    @Test("demo: a child killed before the commit point leaves all old, after it all new (msync, and cache-line flushes)",
          arguments: [nil, "CACHE_LINE"])
    func demo(granularity: String?) throws {
        let scratch = Scratch(on: "/dev/shm")
        let demo = try Self.run(["demo", scratch.directory.string],
                                environment: granularity.map { ["PMEM2_FORCE_GRANULARITY": $0] } ?? [:])
        #expect(demo.status == 0, "\(demo.errors)")
        #expect(demo.output.contains("killed before the commit point (SIGKILL)"))
        // The records replayed include the previous write's, still in its lane (version 2 keeps them).
        #expect(demo.output.contains("replayed by recovery: the 1 MiB is all old"))
        #expect(demo.output.contains("replayed by recovery: the 1 MiB is all new"))
        #expect(demo.output.contains("killed after the commit point (SIGKILL)"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.directory.string).isEmpty, "the demo cleans up")
    }

    @Test("the key-value example survives being killed mid-update, and notices a torn store")
    func keyValueExample() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = scratch.path("kv").string
        #expect(try Self.run([pool, "put", "k", "v1"], program: "pmem-kv").status == 0)
        #expect(try Self.run([pool, "get", "k"], program: "pmem-kv").output == "v1\n")
        let crash = try Self.run([pool, "crash-demo", "3"], program: "pmem-kv")
        #expect(crash.status == 0, "\(crash.output)")
        #expect(crash.output.components(separatedBy: "killed by signal 9").count == 4)
        // Rounds whose child dies before it opens the store acknowledge
        // nothing: the store is intact at the generation it had before.
        let silent = try Self.run([pool, "crash-demo", "2", "0"], program: "pmem-kv")
        #expect(silent.status == 0, "\(silent.output)")
        #expect(silent.output.contains("after 0 acknowledged puts"), "\(silent.output)")
        #expect(silent.output.contains("2 of 2 rounds intact"), "\(silent.output)")
        // The checker is not vacuous: a header that disagrees with the slots is caught.
        let handle = try #require(FileHandle(forUpdatingAtPath: pool))
        let dataOffset = try poolDataOffset(pool)
        try handle.seek(toOffset: UInt64(dataOffset + 8))
        try handle.write(contentsOf: Data([0x77]))
        try handle.close()
        let check = try Self.run([pool, "check"], program: "pmem-kv")
        #expect(check.status == 1)
        #expect(check.output.contains("damaged: the header counts"))
    }

    /// Where logical offset 0 of a pool lives in its file (chunk 0 at creation).
    func poolDataOffset(_ pool: String) throws -> Int {
        let metadata = try #require(try Self.run("pool", "info", pool, "--json").json()["metadata"] as? [[Int]])
        let lanesEnd = metadata[2][0] + metadata[2][1]
        return (lanesEnd + 65535) / 65536 * 65536
    }

    @Test("the crash-lab example catches the broken append and passes the ordered one")
    func crashLabExample() throws {
        let scratch = Scratch(on: "/dev/shm")
        let lab = try Self.run([scratch.directory.string], program: "pmem-crash-lab")
        #expect(lab.status == 0, "\(lab.output)")
        #expect(lab.output.contains("record, then tail: 40 appends"))
        #expect(lab.output.contains(" 0 torn logs"))
    }
}
