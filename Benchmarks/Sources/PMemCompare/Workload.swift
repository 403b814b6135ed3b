/// What is written, where and how often: the same for every peer, so that
/// they differ only in how they make a write atomic.
enum Workload {
    /// Payload sizes. 512 B is there for libpmemblk's small block, so that
    /// its row has a pool row and a raw row to compare with.
    static let sizes = [8, 64, 256, 512, 4 << 10, 64 << 10, 1 << 20, 16 << 20]

    /// The bytes each peer writes into (the pool's capacity, the raw mapping,
    /// the pmemobj region): room for four 16 MiB writes.
    static let regionSize = 64 << 20
    static let chunkSize = 2 << 20
    /// Spare chunks bound the pool's largest atomic write: 16 MiB must fit.
    static let spareCapacity = 32 << 20
    static let poolLanes = 4
    /// The largest write the floor loop makes (its lane's room).
    static let floorLargest = 1 << 20
    /// A write goes to one of this many slots in turn, so that successive
    /// writes do not all hit the same cache lines; deterministic.
    static let offsetSlots = 256

    /// Writes per measurement, chosen so that one measurement of the slower
    /// peers takes roughly 10-50 ms.
    static func iterations(size: Int, quick: Bool) -> Int {
        let full = switch size {
        case ...512: 4000
        case ...(4 << 10): 2000
        case ...(64 << 10): 200
        case ...(1 << 20): 24
        default: 3
        }
        return quick ? max(2, full / 4) : full
    }

    /// The offset of write number `iteration`: slots of the write's size (at
    /// least a cache line), so small writes are 8-aligned, 1 MiB writes fall
    /// on either half of a chunk and 16 MiB writes are chunk-aligned.
    static func offset(size: Int, iteration: Int) -> Int {
        let stride = max(size, 64)
        let slots = min(regionSize / stride, offsetSlots)
        return (iteration % slots) * stride
    }

    /// A non-constant payload, so no layer can skip or compress it.
    static func payload(size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 12)) }
    }

    /// "8 B", "4 KiB", "16 MiB", "1 GiB".
    static func label(_ bytes: Int) -> String {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) B"
    }
}
