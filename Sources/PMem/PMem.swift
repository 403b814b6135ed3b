// The one module an application imports: every layer's public API.
// The layers are their own targets so that the compiler keeps their
// dependencies pointing down (PMemSystem <- PMemMapping <- PMemSealing <-
// PMemPool); this module only re-exports them.
@_exported public import PMemSystem
@_exported public import PMemMapping
@_exported public import PMemSealing
@_exported public import PMemPool
// FilePath, FileDescriptor and FilePermissions appear in the library's
// signatures: one dependency line (on PMem) gives them too.
@_exported public import SystemPackage
