import Glibc
import PMem

/// A one-line progress bar on stderr, redrawn when the percentage changes.
/// An error printed while it is drawn starts on a line of its own.
final class ProgressBar {
    private let enabled: Bool
    private var lastPercent = -1
    /// The bar whose line is open, if any (pmemctl is single-threaded).
    nonisolated(unsafe) static var open: ProgressBar?

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ progress: SealProgress) {
        guard enabled else { return }
        let percent = Int(progress.fractionCompleted * 100)
        guard percent != lastPercent else { return }
        lastPercent = percent
        Self.open = self
        let width = 40
        let filled = width * percent / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let mib = { (b: Int) in b >> 20 }
        printError("\r[\(bar)] \(percent)% \(mib(progress.bytesWritten))/\(mib(progress.totalBytes)) MiB", terminator: "")
    }

    /// Ends the bar's line, once.
    func finish() {
        guard Self.open === self else { return }
        Self.open = nil
        printError("")
    }
}

func printError(_ text: String, terminator: String = "\n") {
    if let bar = ProgressBar.open, terminator == "\n" { bar.finish() }
    let line = text + terminator
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
