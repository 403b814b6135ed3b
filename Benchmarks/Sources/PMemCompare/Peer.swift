/// Something that makes one write of a payload atomic and durable: the pool
/// or one of its C peers.
protocol Peer: AnyObject {
    /// The row label, unique among the peers.
    var name: String { get }
    var series: Series { get }
    /// Whether one write of `size` bytes is something this peer does
    /// (libpmemblk writes only whole blocks of its block size).
    func supports(size: Int) -> Bool
    /// Creates the peer's file (a `Scratch` path) and opens it.
    func setUp() throws
    /// One atomic, durable write of `payload` at byte `offset`; `iteration`
    /// numbers the write.
    func write(_ payload: [UInt8], at offset: Int, iteration: Int) throws
    /// Closes what `setUp` opened; harmless if `setUp` failed or never ran.
    func tearDown()
}

/// The kinds of peer: one bar colour and one chart legend entry each.
enum Series: String, Codable, CaseIterable {
    case pool, floor, raw, pmemobj, pmemobjNT, pmemblk

    var label: String {
        switch self {
        case .pool: "swift-pmem Pool.write"
        case .floor: "logged-write floor (C)"
        case .raw: "raw libpmem2 (the limit)"
        case .pmemobj: "libpmemobj undo-log tx"
        case .pmemobjNT: "libpmemobj tx, non-temporal"
        case .pmemblk: "libpmemblk block write"
        }
    }
}

/// Row labels, shared by the table, the JSON and the targets.
enum PeerName {
    static let pool = "swift-pmem Pool.write"
    static let raw = "raw libpmem2 copy+persist"
    static let pmemobj = "pmemobj tx"
    static let pmemobjNT = "pmemobj tx non-temporal"
    static let floor = "logged-write floor (C)"
    static func pmemblk(blockSize: Int) -> String { "pmemblk \(Workload.label(blockSize)) block" }
}

/// A failure of a peer or of the harness, with the reason in words.
struct PeerFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Calls a PMDKPeers constructor with an error buffer and turns its NULL
/// into a `PeerFailure` carrying the C side's reason.
func openHandle(_ what: String, _ open: (UnsafeMutablePointer<CChar>, Int) -> OpaquePointer?) throws -> OpaquePointer {
    var reason = [CChar](repeating: 0, count: 256)
    let handle = reason.withUnsafeMutableBufferPointer { open($0.baseAddress!, $0.count) }
    guard let handle else {
        throw PeerFailure("\(what): " + reason.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }
    return handle
}
