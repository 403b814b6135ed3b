import ArgumentParser
import Glibc
import PMem
import PMemCrashTesting
import SystemPackage

struct PoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "Create, inspect, write, read and check failure-atomic pools.",
        subcommands: [PoolCreate.self, PoolInfo.self, PoolWrite.self, PoolRead.self, PoolCheck.self, PoolCopy.self])
}

struct PoolCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a pool in a new sealed file.")
    @Argument(help: "The pool file to create (it must not exist).") var path: String
    @Option(help: "Logical bytes (K, M, G, T suffixes): a multiple of the chunk size.") var capacity: ByteCount
    @Option(help: "The chunk size: a power of two from 4K to 1G.") var chunk: ByteCount = ByteCount(argument: "2M")!
    @Option(help: "Spare bytes, which bound the largest atomic write (default: a quarter of the capacity, at most 4G and 8,192 chunks, at least two chunks).")
    var spare: ByteCount?
    @Option(help: "Commits that can run at once (1 to 1024).") var lanes = 4
    @Option(help: sealPlacementHelp) var sealPlacement: PlacementArgument = .automatic
    @Flag(help: "Do not show a progress bar.") var quiet = false
    @Flag(help: "Print one JSON object (keys documented in docs/PMEMCTL.md).") var json = false

    func run() throws {
        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) != 0)
        let pool = try reportingErrors(json: json) { () throws(PMemError) in
            try Pool.create(at: FilePath(path), capacity: capacity.bytes, chunkSize: chunk.bytes,
                            spareCapacity: spare?.bytes, lanes: lanes, sealPlacement: sealPlacement.placement, progress: bar.update)
        }
        bar.finish()
        if json {
            print(JSON.object([("ok", .bool(true)), ("path", .string(path))] + pool.geometryJSON).rendered)
        } else {
            print("created \(path): \(pool.capacity) bytes in \(pool.chunkSize)-byte chunks, \(pool.spareCapacity) spare, \(pool.laneCount) lanes")
        }
    }
}

struct PoolCopy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a pool consistently: recover the source, then write its contents into a new sealed pool of the same geometry.",
        discussion: "A plain cp gives a file whose seal no longer matches; this writes a new sealed file, named only once it is whole.")
    @Argument(help: "The pool to copy.") var source: String
    @Argument(help: "The new pool (it must not exist).") var destination: String
    @Option(help: sealPlacementHelp) var sealPlacement: PlacementArgument = .automatic
    @Flag(help: "Do not show a progress bar.") var quiet = false
    @Flag(help: "Print one JSON object (keys documented in docs/PMEMCTL.md).") var json = false

    func run() throws {
        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) != 0)
        let pool = try reportingErrors(json: json) { () throws(PMemError) in
            try Pool.copy(from: FilePath(source), to: FilePath(destination), sealPlacement: sealPlacement.placement, progress: bar.update)
        }
        bar.finish()
        if json {
            print(JSON.object([("ok", .bool(true)), ("source", .string(source)), ("path", .string(destination))] + pool.geometryJSON).rendered)
        } else {
            print("copied \(source) to \(destination): \(pool.capacity) bytes in \(pool.chunkSize)-byte chunks, \(pool.spareCapacity) spare, \(pool.laneCount) lanes")
        }
    }
}

extension Pool {
    /// The `--json` keys of a pool's geometry: `capacity`, `chunk_size`,
    /// `spare`, `lanes`, `max_atomic_write`.
    var geometryJSON: [(String, JSON)] {
        [("capacity", .int(capacity)), ("chunk_size", .int(chunkSize)), ("spare", .int(spareCapacity)),
         ("lanes", .int(laneCount)), ("max_atomic_write", .int(maxAtomicWrite))]
    }
}

/// `--accept-unclean-shutdown`, for every command that opens a pool.
struct UncleanShutdownOption: ParsableArguments {
    @Flag(help: "Open a pool whose device reports an unsafe shutdown while it was open (refused otherwise): recover it as it is and record the acceptance. Writes it had made durable may be lost; check its data.")
    var acceptUncleanShutdown = false
}

struct PoolInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Open a pool (recovering it) and print its geometry, I/O facts and metadata ranges.")
    @Argument(help: "The pool file.") var path: String
    @OptionGroup var unclean: UncleanShutdownOption
    @OptionGroup var readOnly: ReadOnlyOption
    @Flag(help: "Print one JSON object (keys documented in docs/PMEMCTL.md).") var json = false

    func run() throws {
        if readOnly.readOnly { return try runReadOnly() }
        let (pool, facts) = try reportingErrors { () throws(PMemError) in
            let pool = try Pool.open(at: FilePath(path), acceptingUncleanShutdown: unclean.acceptUncleanShutdown)
            return (pool, try FileFacts(FilePath(path)))
        }
        let stats = pool.statistics
        if json {
            var fields = facts.jsonFields.filter { $0.0 != "max_atomic_write" }
            fields += [
                ("capacity", .int(pool.capacity)), ("chunk_size", .int(pool.chunkSize)), ("spare", .int(pool.spareCapacity)),
                ("lanes", .int(pool.laneCount)), ("max_atomic_write", .int(pool.maxAtomicWrite)),
                ("recovered_commits", .int(pool.recoveredCommits)),
                ("metadata", .array(pool.metadataRanges.map { .array([.int($0.lowerBound), .int($0.count)]) })),
                ("statistics", stats.json),
            ] + pool.media.jsonFields
            print(JSON.object(fields).rendered)
        } else {
            print("capacity:              \(pool.capacity) bytes")
            print("chunk size:            \(pool.chunkSize) bytes")
            print("spare:                 \(pool.spareCapacity) bytes")
            print("lanes:                 \(pool.laneCount)")
            print("largest atomic write:  \(pool.maxAtomicWrite) bytes")
            print("recovered at open:     \(pool.recoveredCommits) commit(s)")
            print("metadata (offset length):")
            for range in pool.metadataRanges { print("  \(range.lowerBound) \(range.count)") }
            print("sealed:                \(facts.sealed ? "yes" : "no"); extents verified: \(facts.extentsVerified.text)")
            print("MAP_SYNC:              \(facts.mapSync ? "yes (DAX)" : "no")")
            switch pool.media.badBlocks {
            case .notTracked(let reason): print("bad blocks:            not tracked (\(reason))")
            case .tracked(let blocks):
                print("bad blocks:            \(blocks.isEmpty ? "none" : "\(blocks.count) in the data area")")
                for block in blocks { print("  \(block)") }
            }
            print("unsafe shutdowns:      \(pool.media.unsafeShutdown)")
            if let accepted = pool.media.acceptedUncleanShutdown {
                print("                       an unclean shutdown was accepted at count \(accepted): contents may be older than what was acknowledged")
            }
            print(pool.ioInfo)
        }
    }
}

extension PoolInfo {
    /// The geometry and the valid records, from a read-only open.
    func runReadOnly() throws {
        let (reader, lanes) = try reportingErrors(json: json) { () throws(PMemError) in
            let reader = try PoolReader.open(at: FilePath(path))
            return (reader, try reader.lanesWithValidRecords())
        }
        if json {
            print(JSON.object([("read_only", .bool(true)), ("capacity", .int(reader.capacity)), ("chunk_size", .int(reader.chunkSize)),
                               ("spare", .int(reader.spareCapacity)), ("lanes", .int(reader.laneCount)),
                               ("lanes_with_valid_records", .array(lanes.map { .int($0) }))]).rendered)
        } else {
            print("opened read-only:      no recovery, no lock, nothing written")
            print("capacity:              \(reader.capacity) bytes")
            print("chunk size:            \(reader.chunkSize) bytes")
            print("spare:                 \(reader.spareCapacity) bytes")
            print("lanes:                 \(reader.laneCount)")
            print("valid records:         \(lanes.isEmpty ? "none" : "lanes \(lanes.map(String.init).joined(separator: ", ")) (reads include them; a writable open would replay them)")")
        }
    }
}

/// `--read-only`, for the commands that can work beside a writer.
struct ReadOnlyOption: ParsableArguments {
    @Flag(help: "Open the pool read-only (PoolReader): works while a writer has it open; no recovery, no lock, nothing written. Valid commit records are reported and included in what is read, not applied.")
    var readOnly = false
}

extension PoolMediaReport {
    /// The `--json` keys `bad_blocks`, `bad_blocks_note`, `unsafe_shutdowns`,
    /// `unsafe_shutdown_check`, `unclean_shutdown`, `unsafe_shutdown_note`,
    /// `accepted_unclean_shutdown` (a count, or null).
    var jsonFields: [(String, JSON)] {
        let blocks: JSON, blocksNote: String
        switch badBlocks {
        case .notTracked(let reason): (blocks, blocksNote) = (.string("not_tracked"), reason)
        case .tracked(let list):
            blocks = .array(list.map { block in
                .object([("file_offset", .int(block.fileRange.lowerBound)), ("length", .int(block.fileRange.count)),
                         ("logical_offset", .int(block.logicalRange?.lowerBound ?? -1))])
            })
            blocksNote = ""
        }
        let check: String, count: JSON, note: String
        switch unsafeShutdown {
        case .notOffered(let reason): (check, count, note) = ("not_offered", .string("not_offered"), reason)
        case .firstRecorded(let c): (check, count, note) = ("first_recorded", .int(Int(truncatingIfNeeded: c)), "")
        case .deviceChanged(let c): (check, count, note) = ("device_changed", .int(Int(truncatingIfNeeded: c)), "")
        case .recordDamaged(let c): (check, count, note) = ("record_damaged", .int(Int(truncatingIfNeeded: c)), "")
        case .clean(let c): (check, count, note) = ("clean", .int(Int(truncatingIfNeeded: c)), "")
        case .unclean(_, let c): (check, count, note) = ("unclean", .int(Int(truncatingIfNeeded: c)), "")
        }
        var unclean = false
        if case .unclean = unsafeShutdown { unclean = true }
        return [("bad_blocks", blocks), ("bad_blocks_note", .string(blocksNote)), ("unsafe_shutdowns", count),
                ("unsafe_shutdown_check", .string(check)), ("unclean_shutdown", .bool(unclean)),
                ("unsafe_shutdown_note", .string(note)),
                ("accepted_unclean_shutdown", acceptedUncleanShutdown.map { .int(Int(truncatingIfNeeded: $0)) } ?? .null)]
    }
}

extension PoolStatistics {
    var json: JSON {
        .object([("commits", .int(commits)), ("bytes_requested", .int(bytesRequested)), ("in_place_bytes", .int(inPlaceBytes)),
                 ("log_bytes", .int(logBytes)), ("applied_bytes", .int(appliedBytes)), ("remap_bytes", .int(remapBytes)),
                 ("remaps", .int(remaps)), ("homings", .int(homings)), ("fences", .int(fences)),
                 ("write_amplification", .number(writeAmplification))])
    }
}

struct PoolWrite: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write",
        abstract: "Write the input into the pool as ONE failure-atomic, durable write: after a crash, all of it or none.")
    @Argument(help: "The pool file.") var path: String
    @OptionGroup var unclean: UncleanShutdownOption
    @Option(help: "Where in the pool (bytes; K, M, G suffixes).") var offset: ByteCount
    @Option(help: "The file to write (default: standard input).") var input: String?
    @Flag(help: "Print the write's statistics as JSON.") var json = false

    func run() throws {
        let bytes = try reportingErrors { () throws(PMemError) in try readInput(input) }
        // Opened through a counter, so that the fences and flush calls (one
        // msync each off DAX) of this one write are counted from outside
        // the library's own tally, as the benchmarks count them.
        let counter = PersistenceCounter()
        let (pool, counted) = try reportingErrors { () throws(PMemError) in
            let pool = try counter.open(at: FilePath(path), acceptingUncleanShutdown: unclean.acceptUncleanShutdown)
            guard !bytes.isEmpty else { throw PMemError(.invalidArgument, "the input is empty; nothing was written", path: FilePath(path)) }
            let before = (counter.fences, counter.flushCalls)
            try pool.write(bytes, at: offset.bytes)
            return (pool, (fences: counter.fences - before.0, flushCalls: counter.flushCalls - before.1))
        }
        let stats = pool.statistics
        if json {
            guard case .object(let fields) = stats.json else { return }
            print(JSON.object(fields + [("counted_fences", .int(counted.fences)), ("counted_flush_calls", .int(counted.flushCalls))]).rendered)
        } else {
            print("wrote \(bytes.count) bytes at \(offset.bytes) atomically: \(stats.inPlaceBytes) in place, \(stats.logBytes) logged, \(stats.remapBytes) remapped; \(stats.remaps) remaps, \(stats.fences) fences")
        }
    }
}

/// Reads all of a file, or of standard input, into memory (a write is one
/// atomic unit, so it is bounded by the pool's spare capacity anyway).
func readInput(_ path: String?) throws(PMemError) -> [UInt8] {
    guard let path else { return try Syscalls.readAll(STDIN_FILENO, path: nil) }
    return try Syscalls.readFile(FilePath(path))
}

struct PoolRead: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "read", abstract: "Write raw bytes of the pool to standard output.")
    @Argument(help: "The pool file.") var path: String
    @OptionGroup var unclean: UncleanShutdownOption
    @OptionGroup var readOnly: ReadOnlyOption
    @Option(help: "Where in the pool (bytes; K, M, G suffixes).") var offset: ByteCount
    @Option(help: "How many bytes.") var length: ByteCount

    func run() throws {
        try reportingErrors { () throws(PMemError) in
            let bytes = readOnly.readOnly
                ? try PoolReader.open(at: FilePath(path)).read(at: offset.bytes, count: length.bytes)
                : try Pool.open(at: FilePath(path), acceptingUncleanShutdown: unclean.acceptUncleanShutdown).read(at: offset.bytes, count: length.bytes)
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + done, $0.count - done) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw PMemError.system(Errno(rawValue: errno), "writing to standard output") }
                done += n
            }
        }
    }
}

struct PoolCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Recover the pool and verify all of its metadata: exit 0 if clean, 1 (with the damage on stderr) if not.")
    @Argument(help: "The pool file.") var path: String
    @OptionGroup var unclean: UncleanShutdownOption
    @OptionGroup var readOnly: ReadOnlyOption
    @Flag(help: "Print one JSON object (keys documented in docs/PMEMCTL.md).") var json = false

    func run() throws {
        let report = try reportingErrors(json: json) { () throws(PMemError) in
            readOnly.readOnly ? try PoolReader.open(at: FilePath(path)).check()
                : try Pool.open(at: FilePath(path), acceptingUncleanShutdown: unclean.acceptUncleanShutdown).check()
        }
        if json {
            print(JSON.object([("ok", .bool(true)), ("logical_chunks", .int(report.logicalChunks)),
                               ("physical_chunks", .int(report.physicalChunks)), ("lanes", .int(report.lanes)),
                               ("recovered_commits", .int(report.recoveredCommits)),
                               ("valid_records_left", .int(report.validRecordsLeft))]).rendered)
        } else {
            print(report)
        }
    }
}
