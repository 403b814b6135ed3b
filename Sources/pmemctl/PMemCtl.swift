import ArgumentParser
import PMem
import SystemPackage

/// `pmemctl`: create, seal, verify, unseal and inspect persistent-memory files.
@main
struct PMemCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmemctl",
        abstract: "Create, seal, verify and inspect persistent-memory files.",
        subcommands: [Create.self, Seal.self, Verify.self, Unseal.self, Extents.self, Info.self]
    )
}

/// Runs `body`, turning a PMemError into a message on stderr and exit status 1.
func reportingErrors(_ body: () throws(PMemError) -> Void) throws(ExitCode) {
    do { try body() } catch {
        printError("pmemctl: \(error.code): \(error.message)")
        if let offset = error.fileOffset { printError("  at file offset \(offset)") }
        if let errno = error.errno { printError("  errno: \(errno)") }
        if let failure = error.libpmem2 { printError("  libpmem2: \(failure.message)") }
        throw ExitCode.failure
    }
}
