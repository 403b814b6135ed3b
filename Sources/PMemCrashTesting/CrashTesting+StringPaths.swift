public import PMem
public import SystemPackage

// Paths held in a `String`, as the rest of the API takes them: the same
// calls, without `import SystemPackage` in the caller.
extension CrashSimulator {
    /// ``map(path:)-(FilePath)`` with the path in a `String`.
    public func map(path: String) throws(PMemError) -> Mapping {
        try map(path: FilePath(path))
    }
}

extension PersistenceCounter {
    /// ``open(at:acceptingUncleanShutdown:)-(FilePath,_)`` with the path in a `String`.
    public func open(at path: String, acceptingUncleanShutdown: Bool = false) throws(PMemError) -> Pool {
        try open(at: FilePath(path), acceptingUncleanShutdown: acceptingUncleanShutdown)
    }

    /// ``create(at:capacity:chunkSize:spareCapacity:lanes:)-(FilePath,_,_,_,_)``
    /// with the path in a `String`.
    public func create(at path: String, capacity: Int, chunkSize: Int = 2 << 20, spareCapacity: Int? = nil,
                       lanes: Int = 4) throws(PMemError) -> Pool {
        try create(at: FilePath(path), capacity: capacity, chunkSize: chunkSize, spareCapacity: spareCapacity, lanes: lanes)
    }
}
