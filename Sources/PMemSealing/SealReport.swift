import PMemSystem
import PMemMapping
/// Whether a file's extents could be checked.
public enum ExtentVerification: Sendable, Hashable {
    /// `FIEMAP` listed the extents and every check passed.
    case verified([PhysicalExtent])
    /// The file system cannot list extents (tmpfs has no `FIEMAP`), so
    /// nothing about the block map was verified. The reason says why.
    case unverifiable(reason: String)

    /// Whether the extents were verified.
    public var isVerified: Bool {
        if case .verified = self { return true }
        return false
    }
}

/// What sealing, verifying or opening a sealed file found.
public struct SealReport: Sendable, Hashable, CustomStringConvertible {
    /// The file's usable size in bytes: all of it, less the page that holds
    /// the seal when the seal lives there (``SealPlacement/lastPage``).
    public var size: Int
    /// The file system the file lives on (`"ext4"`, `"xfs"`, `"tmpfs"`, …).
    public var fileSystem: String
    /// Whether the extents were verified, and the extents when they were.
    public var extents: ExtentVerification
    /// Whether the file carries a seal.
    public var isSealed: Bool
    /// Where the seal is kept (``SealPlacement/extendedAttribute`` or
    /// ``SealPlacement/lastPage``); nil when the file is not sealed.
    public var placement: SealPlacement? = nil

    /// The verified physical extents; empty when they could not be verified.
    public var physicalExtents: [PhysicalExtent] {
        if case .verified(let list) = extents { return list }
        return []
    }

    /// A few lines for people: size, file system, seal state, extents.
    public var description: String {
        var lines = ["size: \(size) bytes on \(fileSystem)", "sealed: \(isSealed ? "yes, the record in the \(placement.map { "\($0)" } ?? "?")" : "no")"]
        switch extents {
        case .verified(let list):
            lines.append("extents: verified, \(list.count) extent\(list.count == 1 ? "" : "s")")
            lines += list.map { "  \($0)" }
        case .unverifiable(let reason):
            lines.append("extents: NOT VERIFIED: \(reason)")
        }
        return lines.joined(separator: "\n")
    }
}
