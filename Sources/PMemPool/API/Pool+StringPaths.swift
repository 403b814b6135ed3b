public import PMemSystem
import PMemMapping
public import PMemSealing
public import SystemPackage

// Paths held in a `String`: the same calls, without `import SystemPackage`
// in the caller (a string literal already converts to `FilePath`).
extension Pool {
    /// `create(at:capacity:chunkSize:spareCapacity:lanes:permissions:sealPlacement:progress:)`
    /// with the path in a `String`.
    public static func create(
        at path: String, capacity: Int, chunkSize: Int = 2 << 20, spareCapacity: Int? = nil,
        lanes: Int = 4, permissions: FilePermissions = .ownerReadWrite,
        sealPlacement: SealPlacement = .automatic,
        progress: ((SealProgress) -> Void)? = nil
    ) throws(PMemError) -> Pool {
        try create(at: FilePath(path), capacity: capacity, chunkSize: chunkSize, spareCapacity: spareCapacity, lanes: lanes,
                   permissions: permissions, sealPlacement: sealPlacement, progress: progress)
    }

    /// `open(at:)` with the path in a `String`.
    public static func open(at path: String) throws(PMemError) -> Pool {
        try open(at: FilePath(path))
    }

    /// `copy(from:to:permissions:sealPlacement:progress:)`
    /// with the paths in `String`s.
    public static func copy(
        from source: String, to destination: String, permissions: FilePermissions = .ownerReadWrite,
        sealPlacement: SealPlacement = .automatic, progress: ((SealProgress) -> Void)? = nil
    ) throws(PMemError) -> Pool {
        try copy(from: FilePath(source), to: FilePath(destination), permissions: permissions, sealPlacement: sealPlacement,
                 progress: progress)
    }
}
