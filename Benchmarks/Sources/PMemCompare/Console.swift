import Foundation

/// Progress and errors go to stderr so that stdout holds only the report.
enum Console {
    static func progress(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
