import ArgumentParser
import Glibc
import PMem

/// `pmemctl`: create, seal, verify, unseal and inspect persistent-memory
/// files and pools. Exit status: 0 success; 1 refused, invalid or corrupt;
/// 2 usage.
@main
struct PMemCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmemctl",
        abstract: "Create, seal, verify and inspect persistent-memory files and failure-atomic pools.",
        discussion: "Exit status: 0 success; 1 refused, invalid or corrupt (one line on stderr says why); 2 usage.",
        subcommands: [Info.self, Seal.self, Unseal.self, Verify.self, Extents.self, Create.self,
                      PoolCommand.self, Demo.self, DemoCrashChild.self]
    )

    /// ArgumentParser exits 64 (EX_USAGE) on a usage error; the contract says 2.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                printError(fullMessage(for: error))
                Glibc.exit(2)
            }
            Self.exit(withError: error)
        }
    }
}

/// Runs `body`, turning a PMemError into one line on stderr (plus detail
/// lines) and exit status 1; with `json`, also one JSON object on stdout:
/// `ok` (false), `code`, `message`, `file_offset` (or null).
func reportingErrors<R>(json: Bool = false, _ body: () throws(PMemError) -> R) throws(ExitCode) -> R {
    do { return try body() } catch {
        if json {
            print(JSON.object([("ok", .bool(false)), ("code", .string(error.code.name)), ("message", .string(error.message)),
                               ("file_offset", error.fileOffset.map(JSON.int) ?? .null)]).rendered)
        }
        printError("pmemctl: \(error.code): \(error.message)")
        if let offset = error.fileOffset { printError("  at file offset \(offset)") }
        if let errno = error.errno { printError("  errno: \(errno)") }
        if let failure = error.libpmem2 { printError("  libpmem2: \(failure.message)") }
        throw ExitCode.failure
    }
}
