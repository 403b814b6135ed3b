import PMemSystem
import PMemMapping
/// Where a sealed file keeps its seal record.
///
/// The record normally lives in the extended attribute
/// `user.swift-pmem.seal`. A file system without user extended attributes
/// (tmpfs before Linux 6.6, as Debian 12 ships it) cannot store that, so the
/// record then lives in one extra page at the end of the file, which the
/// library owns: it is never mapped, and the file's usable size is one page
/// less than its size on disk. The DocC article *Sealed-File Format* gives
/// both layouts and what an open proves with each.
public enum SealPlacement: Sendable, Hashable, CustomStringConvertible {
    /// The extended attribute where the file system has user extended
    /// attributes; the last page where it has none (decided before anything
    /// is written).
    case automatic
    /// The extended attribute `user.swift-pmem.seal`; sealing fails with
    /// ``/PMemSystem/PMemError/Code/notSupported`` where it cannot be stored.
    case extendedAttribute
    /// One page appended to the file, holding the record: works on any file
    /// system, and is what ``automatic`` chooses without user xattrs.
    case lastPage

    /// `"extended attribute"`, `"last page"` or `"automatic"`.
    public var description: String {
        switch self {
        case .automatic: "automatic"
        case .extendedAttribute: "extended attribute"
        case .lastPage: "last page"
        }
    }
}
