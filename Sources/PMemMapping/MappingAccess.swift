import PMemSystem
/// Whether a mapping may be written.
public enum MappingAccess: Sendable, Hashable {
    /// Loads only. Stores and copies into the mapping fail with ``/PMemSystem/PMemError/Code/readOnly``.
    case readOnly
    /// Loads and stores.
    case readWrite
}
