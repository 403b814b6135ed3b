import ArgumentParser
import Glibc
import PMem
import SystemPackage

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a fully allocated, fully written file and seal it.")

    @Argument(help: "The file to create.") var path: String
    @Option(help: "The size: bytes, or with K, M, G, T (powers of 1024). A multiple of the page size.")
    var size: ByteCount
    @Option(help: "The permissions, in octal.") var mode: String = "600"
    @Flag(help: "Replace the file if it exists.") var replace = false
    @Flag(help: "Do not show a progress bar.") var quiet = false

    func run() throws {
        guard let bits = UInt16(mode, radix: 8), bits <= 0o7777 else {
            throw ValidationError("--mode must be octal permissions such as 600 or 644, not \(mode)")
        }
        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) != 0)
        try reportingErrors { () throws(PMemError) in
            let report = try SealedFile.create(
                at: FilePath(path), size: size.bytes, permissions: FilePermissions(rawValue: CModeT(bits)),
                replaceExisting: replace, progress: bar.update)
            bar.finish()
            print(report)
        }
    }
}

struct Seal: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Seal an existing, fully written file.")
    @Argument(help: "The file to seal.") var path: String

    func run() throws {
        try reportingErrors { () throws(PMemError) in print(try SealedFile.seal(FilePath(path))) }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a file's extents and, if it is sealed, its seal. Exit status 1 on any problem.")
    @Argument(help: "The file to check.") var path: String

    func run() throws {
        try reportingErrors { () throws(PMemError) in print(try SealedFile.verify(FilePath(path))) }
    }
}

struct Unseal: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a file's seal.")
    @Argument(help: "The file to unseal.") var path: String

    func run() throws {
        try reportingErrors { () throws(PMemError) in try SealedFile.unseal(FilePath(path)) }
    }
}

struct Extents: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the physical extents of a sealed file (after checking its seal), for DMA.",
        discussion: "The kernel does not enforce a seal: check it again (run this again) before handing the extents to a device.")
    @Argument(help: "The sealed file.") var path: String

    func run() throws {
        try reportingErrors { () throws(PMemError) in
            let file = try SealedFile.open(FilePath(path), access: .readOnly)
            guard file.report.extents.isVerified else {
                throw PMemError(.notSupported, "extents cannot be verified on \(file.report.fileSystem), so none are listed", path: FilePath(path))
            }
            print("logical_offset physical_offset length flags")
            for e in file.physicalExtents {
                print("\(e.logicalOffset) \(e.physicalOffset) \(e.length) \(e.flags)")
            }
        }
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Map a file read-only and print its I/O facts (alignment, granularity, atomic unit, persistence).")
    @Argument(help: "The file to map.") var path: String

    func run() throws {
        try reportingErrors { () throws(PMemError) in
            let map = try Mapping(path: FilePath(path), access: .readOnly)
            print("size:                  \(map.count) bytes")
            print("MAP_SYNC:              \(map.isMapSync ? "yes (DAX)" : "no")")
            print(map.ioInfo)
        }
    }
}
