import PMemSystem

/// What one commit writes. `Pool.run(_:)` is the commit's skeleton
/// (docs/FORMAT.md, "Update protocol"): it takes the steps in order and asks
/// the update what each step writes. Three kinds: ``LoggedWrite`` (one write
/// inside one chunk, through the log), ``RemappedWrite`` (one chunk written
/// out of place and remapped) and ``PlannedUpdate`` (any set of writes,
/// planned). Each step persists in the pool's mode: cache-line flushes and
/// fences, or an `msync` per flush with the apply deferred
/// (`Pool.defersApply`, docs/FORMAT.md, "Deferred apply").
protocol CommitUpdate {
    /// The chunks the update touches, ascending (the lock order).
    var touchedCount: Int { get }
    func touched(_ i: Int) -> Int

    /// Places for the chunks it remaps (``ChunkPlacement``); throws when the
    /// pool was poisoned or closed while waiting, or the mapping budget has
    /// no room. Given back if the commit fails before its commit point.
    mutating func reserveChunks(in pool: Pool) throws(PMemError)
    func cancelReservation(in pool: Pool)

    /// The lanes: `unit`, the lane (or, with deferred apply, the pair) it
    /// takes, held to the end; `slot`, the lane its record goes into. An
    /// update of several chunks also holds the lanes of records it kills,
    /// until its commit point has made their deaths durable.
    mutating func takeLanes(in pool: Pool) -> (unit: Int, slot: Int)
    mutating func releaseKilledLanes(to locks: ChunkLocks)

    /// Step 1: records the commit must kill before it writes its own, made
    /// durable no later than its commit point.
    func killRecords(in pool: Pool, slot: Int)

    /// Step 2: the new contents of remapped chunks, durable before a record
    /// can name them. Returns the bytes written.
    mutating func stage(in pool: Pool, slot: Int) throws(PMemError) -> Int

    /// Steps 3–4: the record into `slot`, durable: the commit point. Returns
    /// the record's size.
    func writeRecord(in pool: Pool, slot: Int, sequence: UInt64) throws(PMemError) -> Int

    /// Steps 5–6: what the record says, applied in place (durable before
    /// return unless the mode defers it). Returns the bytes applied.
    func apply(in pool: Pool, slot: Int) throws(PMemError) -> Int

    /// Step 7: the view shows the remapped chunks; the chunks they replace
    /// become free (``ChunkPlacement/settle(_:replaced:now:)``). A failure leaves the view behind the durable page
    /// table: the skeleton then poisons the pool.
    func remapView(of pool: Pool) throws(PMemError)

    /// For the statistics (a homing is no commit of the caller's).
    var isHoming: Bool { get }
    var requestedBytes: Int { get }
    var remapCount: Int { get }
    func fences(defersApply: Bool) -> Int
}

extension CommitUpdate {
    var isHoming: Bool { false }

    /// An update of one chunk kills no other lane's record: the record
    /// still valid for its chunk is in the lane it takes.
    mutating func releaseKilledLanes(to locks: ChunkLocks) {}
}
