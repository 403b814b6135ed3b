import PMDKPeers
import FloorLoop
import PMem
import SystemPackage

/// This package's atomic write, `Pool.write`, in a pool of 2 MiB chunks.
final class PoolPeer: Peer {
    let name = PeerName.pool
    let series = Series.pool
    private let path: String
    private(set) var pool: Pool?

    init(path: String) {
        self.path = path
    }

    /// What the pool has written so far (zero before `setUp`).
    var statistics: PoolStatistics { pool?.statistics ?? PoolStatistics() }

    func supports(size: Int) -> Bool { size <= Workload.spareCapacity }

    func setUp() throws {
        pool = try Pool.create(at: FilePath(path), capacity: Workload.regionSize, chunkSize: Workload.chunkSize,
                               spareCapacity: Workload.spareCapacity, lanes: Workload.poolLanes)
    }

    func write(_ payload: [UInt8], at offset: Int, iteration: Int) throws {
        try pool!.write(payload, at: offset)
    }

    func tearDown() { pool = nil }
}

/// The lower bound: a non-temporal copy into a libpmem2 mapping and one
/// persist, nothing to make it atomic (8 B: one store and a persist, which is).
final class RawPeer: Peer {
    let name = PeerName.raw
    let series = Series.raw
    private let path: String
    private var raw: OpaquePointer?

    init(path: String) {
        self.path = path
    }

    /// libpmem2's store granularity for the mapping: "byte", "cache_line" or "page".
    var granularity: String { raw.map { String(cString: peer_raw_granularity($0)) } ?? "unknown" }

    func supports(size: Int) -> Bool { size <= Workload.regionSize }

    func setUp() throws {
        let path = path
        raw = try openHandle("raw libpmem2 mapping") { peer_raw_open(path, Workload.regionSize, $0, $1) }
    }

    func write(_ payload: [UInt8], at offset: Int, iteration: Int) throws {
        if payload.count == 8 {
            peer_raw_store8_persist(raw, offset, UInt64(truncatingIfNeeded: iteration))
        } else {
            payload.withUnsafeBytes { peer_raw_copy_persist(raw, offset, $0.baseAddress, $0.count) }
        }
    }

    func tearDown() {
        peer_raw_close(raw)
        raw = nil
    }
}

/// libpmemobj: each write one transaction that snapshots the range into the
/// undo log, then copies the payload. Plain: `memcpy`, persisted at commit
/// (libpmemobj's own examples); non-temporal: the copy with non-temporal
/// stores, drained before the commit, the range not flushed again (the
/// fastest configuration with the same guarantee).
final class ObjPeer: Peer {
    let name: String
    let series: Series
    private let nonTemporal: Bool
    private let path: String
    private var obj: OpaquePointer?

    init(path: String, nonTemporal: Bool = false) {
        self.path = path
        self.nonTemporal = nonTemporal
        name = nonTemporal ? PeerName.pmemobjNT : PeerName.pmemobj
        series = nonTemporal ? .pmemobjNT : .pmemobj
    }

    func supports(size: Int) -> Bool { size <= Workload.regionSize }

    func setUp() throws {
        let path = path
        // The pool also holds the undo snapshot of the largest write.
        let poolSize = 2 * Workload.regionSize + (32 << 20)
        obj = try openHandle("libpmemobj pool") { peer_obj_create(path, poolSize, Workload.regionSize, $0, $1) }
    }

    func write(_ payload: [UInt8], at offset: Int, iteration: Int) throws {
        let status = payload.withUnsafeBytes {
            nonTemporal ? peer_obj_tx_write_nt(obj, offset, $0.baseAddress, $0.count) : peer_obj_tx_write(obj, offset, $0.baseAddress, $0.count)
        }
        guard status == 0 else { throw PeerFailure("pmemobj transaction of \(payload.count) B at \(offset) aborted") }
    }

    func tearDown() {
        peer_obj_close(obj)
        obj = nil
    }
}

/// libpmemblk: atomic writes of whole blocks of one fixed size.
final class BlkPeer: Peer {
    let name: String
    let series = Series.pmemblk
    let blockSize: Int
    private let path: String
    private var blk: OpaquePointer?
    private var blockCount = 0

    init(blockSize: Int, path: String) {
        self.blockSize = blockSize
        self.name = PeerName.pmemblk(blockSize: blockSize)
        self.path = path
    }

    func supports(size: Int) -> Bool { size == blockSize }

    func setUp() throws {
        let path = path, blockSize = blockSize
        // libpmemblk's minimum pool is 16 MiB + 128 KiB; 32 MiB holds every slot.
        let handle = try openHandle("libpmemblk pool (\(blockSize) B blocks)") {
            peer_blk_create(path, blockSize, 32 << 20, $0, $1)
        }
        blk = handle
        blockCount = peer_blk_count(handle)
    }

    func write(_ payload: [UInt8], at offset: Int, iteration: Int) throws {
        let block = Int64(offset / blockSize % blockCount)
        let status = payload.withUnsafeBytes { peer_blk_write(blk, block, $0.baseAddress) }
        guard status == 0 else { throw PeerFailure("pmemblk write of block \(block) failed") }
    }

    func tearDown() {
        peer_blk_close(blk)
        blk = nil
    }
}

/// The floor of a logged write (Benchmarks/Sources/FloorLoop/FloorLoop.c is
/// its definition): the record copied, checksummed and flushed, a fence, the
/// bytes in place, a fence; no locks, no bookkeeping. Sizes from 16 B (8 B
/// writes take the pool's in-place word) up to what the pool logs.
final class FloorPeer: Peer {
    let name = PeerName.floor
    let series = Series.floor
    private let path: String
    private var floor: OpaquePointer?

    init(path: String) {
        self.path = path
    }

    func supports(size: Int) -> Bool { size > 8 && size <= Workload.floorLargest }

    func setUp() throws {
        let path = path
        floor = try openHandle("floor loop") { floor_loop_open(path, Workload.floorLargest + 4096, Workload.regionSize, $0, $1) }
    }

    func write(_ payload: [UInt8], at offset: Int, iteration: Int) throws {
        payload.withUnsafeBytes { floor_loop_write(floor, offset, $0.baseAddress, $0.count) }
    }

    func tearDown() {
        floor_loop_close(floor)
        floor = nil
    }
}
