import Glibc
import PMem

/// A one-line progress bar on stderr, redrawn when the percentage changes.
final class ProgressBar {
    private let enabled: Bool
    private var lastPercent = -1

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ progress: SealProgress) {
        guard enabled else { return }
        let percent = Int(progress.fractionCompleted * 100)
        guard percent != lastPercent else { return }
        lastPercent = percent
        let width = 40
        let filled = width * percent / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let mib = { (b: Int) in b >> 20 }
        printError("\r[\(bar)] \(percent)% \(mib(progress.bytesWritten))/\(mib(progress.totalBytes)) MiB", terminator: "")
    }

    func finish() {
        if enabled && lastPercent >= 0 { printError("") }
    }
}

func printError(_ text: String, terminator: String = "\n") {
    let line = text + terminator
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
