import PMemSystem

/// What one commit of a set of writes does, decided before anything is
/// written (docs/FORMAT.md, "Update protocol"): which logical chunks it
/// touches, which of them are written whole into spare chunks and remapped,
/// and the log entries of the rest. A pure function of the writes and the
/// pool's geometry, tested on its own (CommitPlanTests); the executor
/// (`PlannedUpdate`, through the commit skeleton) carries it out.
struct CommitPlan: Equatable {
    /// The sizes a plan depends on.
    struct Geometry {
        var capacity: Int
        var chunkSize: Int
        /// The bytes of log entries a lane holds (the lane less its header).
        var laneBodyCapacity: Int
        var spareChunks: Int
    }

    /// One piece of a write that falls in one logical chunk.
    struct Piece: Equatable {
        var offset: Int
        var bytes: ArraySlice<UInt8>
    }

    /// A chunk written whole into a spare chunk: the pieces that land in it
    /// (the rest of it is copied from its current contents).
    struct Remap: Equatable {
        var logical: Int
        var pieces: [Piece]
    }

    /// How a set of writes is carried out.
    enum Route: Equatable {
        /// Nothing to write (every write was empty).
        case nothing
        /// One write within one chunk, or within one aligned 8-byte word:
        /// the one-write fast paths (`Pool.write(_:at:)`).
        case single(offset: Int, bytes: [UInt8])
        /// Everything else: this plan.
        case planned(CommitPlan)
    }

    /// Every logical chunk the writes touch, ascending: their locks are taken in this order.
    var touched: [Int]
    /// The chunks copied out and remapped, ascending.
    var remapped: [Remap]
    /// The chunks that are logged, ascending.
    var logged: [Int]
    /// The log entries of the logged chunks, in write order within each chunk.
    var logEntries: [LogEntry]
    /// The bytes the log body takes, the remaps' page-table entries included.
    var bodySize: Int
    /// The payload bytes asked for.
    var requested: Int

    /// Whether a partial chunk whose log entries take `logBytes` is logged
    /// rather than copied out and remapped: while its payload is at most half
    /// the chunk (docs/FORMAT.md, "Log or remap: half a chunk"). Past that, a remap
    /// writes fewer bytes.
    static func logs(_ logBytes: Int, chunk: Int) -> Bool {
        logBytes <= chunk / 2 + CommitRecord.entryHeadSize
    }

    /// Whether `count` bytes at `offset` (not negative) lie inside one aligned
    /// 8-byte word: the hardware's failure-atomic unit, stored in place.
    static func fitsOneWord(_ offset: Int, _ count: Int) -> Bool {
        count > 0 && offset % 8 + count <= 8
    }

    /// The route for `writes` in a pool of `geometry`, or the error the
    /// commit must refuse with: `outOfBounds` for a write outside the pool,
    /// `updateTooLarge` when the log or the remaps do not fit.
    static func route(_ writes: [(offset: Int, bytes: [UInt8])], in geometry: Geometry) throws(PMemError) -> Route {
        var requested = 0
        for w in writes {
            guard fits(w.offset, w.bytes.count, in: geometry.capacity) else {
                throw Pool.outOfBounds(w.offset, w.bytes.count, capacity: geometry.capacity, path: nil)
            }
            requested += w.bytes.count
        }
        let writes = writes.filter { !$0.bytes.isEmpty }
        guard let first = writes.first else { return .nothing }
        let chunk = geometry.chunkSize
        if writes.count == 1,
           fitsOneWord(first.offset, first.bytes.count) || (first.offset + first.bytes.count - 1) / chunk == first.offset / chunk {
            return .single(offset: first.offset, bytes: first.bytes)
        }
        return .planned(try CommitPlan(writes, requested: requested, geometry))
    }

    /// Plans non-empty, in-bounds writes: the pieces of each chunk in write
    /// order; chunks wholly covered are remapped, the rest logged while the
    /// lane has room and logging writes fewer bytes than a remap.
    private init(_ writes: [(offset: Int, bytes: [UInt8])], requested: Int, _ geometry: Geometry) throws(PMemError) {
        let chunk = geometry.chunkSize
        var pieces: [Int: [Piece]] = [:]
        for w in writes {
            var done = 0
            while done < w.bytes.count {
                let logical = (w.offset + done) / chunk
                let n = min(w.bytes.count - done, chunk - (w.offset + done) % chunk)
                pieces[logical, default: []].append(Piece(offset: w.offset + done, bytes: w.bytes[done..<(done + n)]))
                done += n
            }
        }
        var remapped = pieces.keys.filter { Self.uncovered(pieces[$0]!, chunk: $0, size: chunk).isEmpty }
        var logged = pieces.keys.filter { !Self.uncovered(pieces[$0]!, chunk: $0, size: chunk).isEmpty }.sorted()
        func logSize(_ l: Int) -> Int { pieces[l]!.reduce(0) { $0 + CommitRecord.entryHeadSize + PoolLayout.alignUp($1.bytes.count, 8) } }
        // Past half a chunk, copying it out and remapping beats logging it.
        // Spare chunks permitting: the guarantee of maxAtomicWrite must not depend on it.
        for l in logged.sorted(by: { logSize($0) > logSize($1) })
        where !Self.logs(logSize(l), chunk: chunk) && remapped.count < geometry.spareChunks {
            logged.removeAll { $0 == l }
            remapped.append(l)
        }
        var bodySize = logged.reduce(0) { $0 + logSize($1) } + remapped.count * CommitRecord.entryHeadSize
        while bodySize > geometry.laneBodyCapacity, let biggest = logged.max(by: { logSize($0) < logSize($1) }) {
            // Too much for the lane: copy this chunk out and remap it instead.
            logged.removeAll { $0 == biggest }
            remapped.append(biggest)
            bodySize += CommitRecord.entryHeadSize - logSize(biggest)
        }
        remapped.sort()
        guard bodySize <= geometry.laneBodyCapacity else {
            throw PMemError(.updateTooLarge, "the update's log (\(bodySize) bytes of entries) does not fit a lane's \(geometry.laneBodyCapacity) bytes; split it into smaller transactions")
        }
        guard remapped.count <= geometry.spareChunks else {
            throw PMemError(.updateTooLarge, "the update needs \(remapped.count) spare chunks of \(chunk) bytes and the pool has \(geometry.spareChunks): its largest atomic write is \(geometry.spareChunks * chunk) bytes")
        }
        self.touched = pieces.keys.sorted()
        self.remapped = remapped.map { Remap(logical: $0, pieces: pieces[$0]!) }
        self.logged = logged
        self.logEntries = logged.flatMap { pieces[$0]!.map { LogEntry.data(offset: $0.offset, bytes: Array($0.bytes)) } }
        self.bodySize = bodySize
        self.requested = requested
    }

    /// The byte ranges of chunk `logical` (relative to its start, of `size`
    /// bytes) that no piece covers, ascending.
    static func uncovered(_ pieces: [Piece], chunk logical: Int, size: Int) -> [Range<Int>] {
        let start = logical * size
        let ranges = pieces.map { ($0.offset - start)..<($0.offset - start + $0.bytes.count) }.sorted { $0.lowerBound < $1.lowerBound }
        var gaps: [Range<Int>] = []
        var next = 0
        for r in ranges {
            if r.lowerBound > next { gaps.append(next..<r.lowerBound) }
            next = max(next, r.upperBound)
        }
        if next < size { gaps.append(next..<size) }
        return gaps
    }
}
