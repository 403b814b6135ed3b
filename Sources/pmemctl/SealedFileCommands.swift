import ArgumentParser
import Glibc
import PMem
import SystemPackage

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Map a file read-only and print its I/O facts (granularity, MAP_SYNC, atomic unit) and seal state.")
    @Argument(help: "The file to map.") var path: String
    @Flag(help: "Print one JSON object (keys documented in docs/PMEMCTL.md).") var json = false

    func run() throws {
        let facts = try reportingErrors { () throws(PMemError) in try FileFacts(FilePath(path)) }
        if json {
            print(JSON.object(facts.jsonFields).rendered)
        } else {
            print("size:                  \(facts.size) bytes on \(facts.fileSystem)")
            print("sealed:                \(facts.sealed ? "yes, the record in the \(facts.placement.map { "\($0)" } ?? "?")" : "no")\(facts.sealProblem.map { " (\($0))" } ?? "")")
            print("extents verified:      \(facts.extentsVerified.text)")
            print("MAP_SYNC:              \(facts.mapSync ? "yes (DAX)" : "no")")
            print(facts.ioInfo)
        }
    }
}

/// What `info` reports about any mappable file.
struct FileFacts {
    enum Verified {
        case yes, no, unsupported
        var text: String { switch self { case .yes: "yes"; case .no: "no"; case .unsupported: "unsupported" } }
        var json: JSON { switch self { case .yes: .bool(true); case .no: .bool(false); case .unsupported: .string("unsupported") } }
    }
    var size: Int
    var fileSystem: String
    var sealed: Bool
    var sealProblem: String?
    var placement: SealPlacement?
    var extentsVerified: Verified
    var mapSync: Bool
    var ioInfo: IOInfo

    init(_ path: FilePath) throws(PMemError) {
        let map = try Mapping(path: path, access: .readOnly)
        size = map.count
        mapSync = map.isMapSync
        ioInfo = map.ioInfo
        do {
            let report = try SealedFile.verify(path)
            fileSystem = report.fileSystem
            sealed = report.isSealed
            placement = report.placement
            if report.isSealed { size = report.size }
            extentsVerified = report.extents.isVerified ? .yes : .unsupported
        } catch {
            // A seal that no longer matches, or extents a seal would refuse.
            fileSystem = (try? SealedFile.fileSystem(of: path)) ?? "unknown"
            sealed = false
            sealProblem = "\(error.code): \(error.message)"
            extentsVerified = .no
        }
    }

    var jsonFields: [(String, JSON)] {
        [("size", .int(size)), ("file_system", .string(fileSystem)), ("sealed", .bool(sealed)),
         ("seal_problem", sealProblem.map(JSON.string) ?? .string("")),
         ("seal_placement", .string(placement?.jsonName ?? "")),
         ("extents_verified", extentsVerified.json), ("map_sync", .bool(mapSync)),
         ("granularity", .string(ioInfo.storeGranularity.jsonName)),
         ("persistence", .string(ioInfo.persistence.jsonName)), ("durable", .bool(ioInfo.persistence.isDurable)),
         ("mapping_alignment", .int(ioInfo.mappingAlignment)),
         ("atomic_write_unit", .int(ioInfo.hardwareAtomicUnit)),
         ("atomic_write_alignment", .int(ioInfo.hardwareAtomicAlignment)),
         ("max_atomic_write", .int(ioInfo.maxAtomicWrite))]
            + ioInfo.kernelAtomicWrite.jsonFields
    }
}

extension KernelAtomicWrite {
    /// The `--json` keys: `kernel_atomic_write` (`offered` or why not), the
    /// limits (0 when not offered; `_unit_max_opt` 0 when not reported) and
    /// `kernel_release`.
    var jsonFields: [(String, JSON)] {
        let l = limits
        return [("kernel_atomic_write", .string(jsonName)),
                ("kernel_atomic_write_unit_min", .int(l?.unitMin ?? 0)),
                ("kernel_atomic_write_unit_max", .int(l?.unitMax ?? 0)),
                ("kernel_atomic_write_unit_max_opt", .int(l?.unitMaxOptimized ?? 0)),
                ("kernel_atomic_write_segments_max", .int(l?.maxSegments ?? 0)),
                ("kernel_release", .string(KernelAtomicWrite.kernelRelease))]
    }

    /// `offered`, `kernel_too_old`, `not_on_this_file_system`, `dax`,
    /// `statx_failed` or `not_queried`.
    var jsonName: String {
        switch self {
        case .offered: "offered"
        case .kernelTooOld: "kernel_too_old"
        case .notOnThisFileSystem: "not_on_this_file_system"
        case .dax: "dax"
        case .statxFailed: "statx_failed"
        case .notQueried: "not_queried"
        }
    }
}

/// `--seal-placement auto|xattr|last-page`.
struct PlacementArgument: ExpressibleByArgument {
    var placement: SealPlacement
    init?(argument: String) {
        switch argument {
        case "auto": placement = .automatic
        case "xattr": placement = .extendedAttribute
        case "last-page": placement = .lastPage
        default: return nil
        }
    }
    static let automatic = PlacementArgument(argument: "auto")!

    /// The help's default, as it is typed.
    var defaultValueDescription: String {
        switch placement { case .automatic: "auto"; case .extendedAttribute: "xattr"; case .lastPage: "last-page" }
    }
}

extension SealPlacement {
    /// The `--json` spelling: `extended_attribute`, `last_page`.
    var jsonName: String {
        switch self { case .automatic: "automatic"; case .extendedAttribute: "extended_attribute"; case .lastPage: "last_page" }
    }
}

/// The option that says where a new seal goes.
let sealPlacementHelp = ArgumentHelp("Where the seal record goes: auto (an extended attribute, or the file's last page where the file system has no user xattrs), xattr, last-page.")

extension StoreGranularity {
    /// The `--json` spelling: `byte`, `cache_line`, `page`.
    var jsonName: String { switch self { case .byte: "byte"; case .cacheLine: "cache_line"; case .page: "page" } }
}

extension PersistenceDomain {
    /// The `--json` spelling: `dax`, `msync`, `forced`.
    var jsonName: String { switch self { case .dax: "dax"; case .msync: "msync"; case .memoryOnly: "memory_only"; case .forcedForTesting: "forced" } }
}

struct Seal: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seal a file; with --size, create it (fully allocated and written) first if it is missing.")
    @Argument(help: "The file to seal.") var path: String
    @Option(help: "The size of a file to create: bytes, or with K, M, G, T (powers of 1024). A multiple of the page size.")
    var size: ByteCount?
    @Option(help: sealPlacementHelp) var sealPlacement: PlacementArgument = .automatic
    @Flag(help: "Do not show a progress bar.") var quiet = false
    @Flag(help: "Print one JSON object (keys documented in docs/PMEMCTL.md).") var json = false

    func run() throws {
        let path = FilePath(path)
        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) != 0)
        let report = try reportingErrors(json: json) { () throws(PMemError) in
            var status = stat()
            guard lstat(path.string, &status) == 0 else {
                guard let size else {
                    throw PMemError(.fileNotFound, "\(path) does not exist; give --size to create it", path: path)
                }
                let report = try SealedFile.create(at: path, size: size.bytes, placement: sealPlacement.placement, progress: bar.update)
                bar.finish()
                return report
            }
            if let size, Int(status.st_size) != size.bytes {
                throw PMemError(.invalidArgument, "\(path) exists with \(status.st_size) bytes, not \(size.bytes); it was left as it is", path: path)
            }
            return try SealedFile.seal(path, placement: sealPlacement.placement)
        }
        print(json ? report.json.rendered : "\(report)")
    }
}

struct Unseal: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a file's seal.")
    @Argument(help: "The file to unseal.") var path: String

    func run() throws {
        try reportingErrors { () throws(PMemError) in try SealedFile.unseal(FilePath(path)) }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that a file is sealed and intact: exit 0 if so, 1 (with the reason on stderr) if not.")
    @Argument(help: "The file to check.") var path: String
    @Flag(help: "Print one JSON object (keys documented in docs/PMEMCTL.md).") var json = false

    func run() throws {
        let report = try reportingErrors(json: json) { () throws(PMemError) in
            let report = try SealedFile.verify(FilePath(path))
            guard report.isSealed else {
                throw PMemError(.notSealed, "\(path) carries no seal (seal it with `pmemctl seal`)", path: FilePath(path))
            }
            return report
        }
        print(json ? report.json.rendered : "\(report)")
    }
}

struct Extents: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the physical extents of a sealed file (after checking its seal), for DMA.",
        discussion: "The kernel does not enforce a seal: check it again (run this again) before handing the extents to a device.")
    @Argument(help: "The sealed file.") var path: String
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let extents = try reportingErrors { () throws(PMemError) in
            let file = try SealedFile.open(FilePath(path), access: .readOnly)
            guard file.report.extents.isVerified else {
                throw PMemError(.notSupported, "extents cannot be verified on \(file.report.fileSystem), so none are listed", path: FilePath(path))
            }
            return file.physicalExtents
        }
        if json {
            let list = extents.map { e in
                JSON.object([("logical_offset", .int(e.logicalOffset)), ("physical_offset", .int(e.physicalOffset)),
                             ("length", .int(e.length)), ("flags", .string(e.flags.description))])
            }
            print(JSON.object([("extents_verified", .bool(true)), ("extents", .array(list))]).rendered)
        } else {
            print("logical_offset physical_offset length flags")
            for e in extents { print("\(e.logicalOffset) \(e.physicalOffset) \(e.length) \(e.flags)") }
        }
    }
}

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a fully allocated, fully written file and seal it (like seal --size, with --replace and --mode).")

    @Argument(help: "The file to create.") var path: String
    @Option(help: "The size: bytes, or with K, M, G, T (powers of 1024). A multiple of the page size.")
    var size: ByteCount
    @Option(help: "The permissions, in octal.") var mode: String = "600"
    @Flag(help: "Replace the file if it exists.") var replace = false
    @Option(help: sealPlacementHelp) var sealPlacement: PlacementArgument = .automatic
    @Flag(help: "Do not show a progress bar.") var quiet = false
    @Flag(help: "Print one JSON object (keys documented in docs/PMEMCTL.md).") var json = false

    func validate() throws {
        guard let bits = UInt16(mode, radix: 8), bits <= 0o7777 else {
            throw ValidationError("--mode must be octal permissions such as 600 or 644, not \(mode)")
        }
    }

    func run() throws {
        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) != 0)
        let report = try reportingErrors(json: json) { () throws(PMemError) in
            try SealedFile.create(
                at: FilePath(path), size: size.bytes, permissions: FilePermissions(rawValue: CModeT(UInt16(mode, radix: 8)!)),
                replaceExisting: replace, placement: sealPlacement.placement, progress: bar.update)
        }
        bar.finish()
        print(json ? report.json.rendered : "\(report)")
    }
}

extension SealReport {
    /// The `--json` object of `seal`, `create` and `verify`: `ok` (true),
    /// `size`, `file_system`, `sealed`, `seal_placement`, `extents_verified`
    /// (true, or "unsupported" where the file system lists no extents),
    /// `extents` (how many).
    var json: JSON {
        .object([("ok", .bool(true)), ("size", .int(size)), ("file_system", .string(fileSystem)), ("sealed", .bool(isSealed)),
                 ("seal_placement", .string(placement?.jsonName ?? "")),
                 ("extents_verified", extents.isVerified ? .bool(true) : .string("unsupported")),
                 ("extents", .int(physicalExtents.count))])
    }
}
