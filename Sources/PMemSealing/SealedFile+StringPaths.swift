public import PMemSystem
public import PMemMapping
public import SystemPackage

// Paths held in a `String`: the same calls, without `import SystemPackage`
// in the caller (a string literal already converts to `FilePath`).
extension SealedFile {
    /// `create(at:size:permissions:replaceExisting:placement:progress:)`
    /// with the path in a `String`.
    @discardableResult
    public static func create(
        at path: String, size: Int, permissions: FilePermissions = .ownerReadWrite, replaceExisting: Bool = false,
        placement: SealPlacement = .automatic, progress: ((SealProgress) -> Void)? = nil
    ) throws(PMemError) -> SealReport {
        try create(at: FilePath(path), size: size, permissions: permissions, replaceExisting: replaceExisting,
                   placement: placement, progress: progress)
    }

    /// `open(_:access:)` with the path in a `String`.
    public static func open(_ path: String, access: MappingAccess = .readWrite) throws(PMemError) -> SealedFile {
        try open(FilePath(path), access: access)
    }

    /// `seal(_:placement:)` with the path in a `String`.
    @discardableResult
    public static func seal(_ path: String, placement: SealPlacement = .automatic) throws(PMemError) -> SealReport {
        try seal(FilePath(path), placement: placement)
    }

    /// `verify(_:)` with the path in a `String`.
    public static func verify(_ path: String) throws(PMemError) -> SealReport {
        try verify(FilePath(path))
    }

    /// `unseal(_:)` with the path in a `String`.
    public static func unseal(_ path: String) throws(PMemError) {
        try unseal(FilePath(path))
    }
}

extension Mapping {
    /// `init(path:access:fileRange:requiredGranularity:)`
    /// with the path in a `String`.
    public init(path: String, access: MappingAccess = .readWrite, fileRange: Range<Int>? = nil,
                requiredGranularity: StoreGranularity = .page) throws(PMemError) {
        try self.init(path: FilePath(path), access: access, fileRange: fileRange, requiredGranularity: requiredGranularity)
    }
}
