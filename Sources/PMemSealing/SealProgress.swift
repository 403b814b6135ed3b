import PMemSystem
import PMemMapping
/// How far ``SealedFile/create(at:size:permissions:replaceExisting:placement:progress:)-(FilePath,_,_,_,_,_)`` is.
public struct SealProgress: Sendable, Hashable {
    /// Bytes written so far.
    public var bytesWritten: Int
    /// Bytes to write in all (the file size).
    public var totalBytes: Int

    /// Creates a progress report.
    public init(bytesWritten: Int, totalBytes: Int) {
        self.bytesWritten = bytesWritten
        self.totalBytes = totalBytes
    }

    /// The fraction done, from 0 to 1.
    public var fractionCompleted: Double {
        totalBytes == 0 ? 1 : Double(bytesWritten) / Double(totalBytes)
    }
}
