/// The persistence functions of one mapping, as libpmem2 shapes them:
/// persist, flush, drain, and copies that flush (`PMEM2_F_MEM_*` flags).
/// Plain C function pointers, called without a lookup.
struct PersistenceFunctions: @unchecked Sendable {
    let persist: @convention(c) (UnsafeRawPointer?, Int) -> Void
    let flush: @convention(c) (UnsafeRawPointer?, Int) -> Void
    let drain: @convention(c) () -> Void
    let memmove: @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, UInt32) -> UnsafeMutableRawPointer?
    let memcpy: @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, UInt32) -> UnsafeMutableRawPointer?
    let memset: @convention(c) (UnsafeMutableRawPointer?, CInt, Int, UInt32) -> UnsafeMutableRawPointer?
}
