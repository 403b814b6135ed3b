import PMemSystem
import PMemMapping
import PMemSealing
import CPMemAtomics
import Glibc

/// The pool's locks, without a pool-wide mutex on the commit path: a lock
/// word per *stripe* of logical chunks, one per lane (each lane's on its own
/// cache line), and a mutex only around the free physical chunks, which
/// only remapping commits take. A commit takes its chunks' stripes in
/// ascending order (each once), then its spares, then lanes (several only
/// in ascending order), and a lane's holder never waits for a stripe or a
/// spare: so no two commits wait for each other in a cycle. A lane's record
/// is written and flushed only by the lane's holder (kills included), so no
/// two threads flush one record's line.
///
/// Logical chunk `L` belongs to stripe `L mod stripeCount`. A pool of up to
/// ``maximumStripes`` chunks has a stripe per chunk; a larger one shares
/// them, so that the table's size and its cost at open and close do not
/// grow with the pool (two commits on different chunks of one stripe take
/// turns, as two commits on one chunk do).
///
/// Beside each stripe's lock lives what the commit protocol needs to know
/// about its chunks (docs/FORMAT.md, "Sequence numbers" and invariant I2):
/// the lane and sequence number of the last record that touched one of
/// them. Both change only under the stripe's lock. The protocol treats a
/// stripe as it would one chunk: a new record on any of its chunks
/// overwrites or kills that record, which is always safe once the record's
/// commit returned, and the stripe's sequence number is at least that of
/// every record on each of its chunks.
///
/// A commit that homes a chunk to make room for its own remaps
/// (Pool+Homing.swift) takes that chunk's stripe out of order, so only by
/// `tryLock`, never waiting.
///
/// A struct of raw pointers, not a class: the commit path touches it with
/// no reference counting, whose atomic increments on one shared object would
/// be a cache line every thread writes. ``Pool`` frees it (`deallocate`).
/// The lanes' counters live in the lanes' own lines, written only by the
/// lane's holder (plain loads and stores), read relaxed by ``snapshot``.
struct ChunkLocks: @unchecked Sendable {
    /// The most stripes a pool has: 256 KiB of lines.
    static let maximumStripes = 4096
    let chunkCount: Int
    let laneCount: Int
    /// A power of two: a stripe per chunk up to ``maximumStripes``.
    let stripeCount: Int
    private let stripeMask: Int
    /// Per stripe, a cache line of its own (pmem_lock_lines.h): its lock
    /// word, the lane and sequence number of the last record that touched
    /// one of its chunks, the counters of the in-place writes into them.
    private let stripeLines: UnsafeMutablePointer<pmem_stripe_line>
    /// Per lane, two lines of its own: its lock word, its last sequence
    /// number, its counters, the sync ticket its record's apply waits for.
    private let laneLines: UnsafeMutablePointer<pmem_lane_line>
    /// The placement of chunks (only remapping commits take it), woken when
    /// the pool is poisoned or closed. Owned by the pool; `unowned(unsafe)`
    /// so that copying this struct (every call on it may) retains nothing: a
    /// retain is a write to the object's reference count, one line that
    /// every committing thread would write.
    private unowned(unsafe) let placement: ChunkPlacement
    /// Non-zero once a commit failed after its record was durable: until the
    /// pool is reopened (and recovery finishes that commit) nothing may write.
    let poisonWord: UnsafeMutablePointer<UInt64>
    /// Lanes taken two at a time (docs/FORMAT.md, "Deferred apply"): a
    /// pair is named by its even lane, whose lock word locks both.
    let pairs: Bool
    /// The sync tickets: the number of whole-file syncs begun at 0, the
    /// highest ticket of one that has ended at 64 (a line each).
    private let syncWords: UnsafeMutableRawPointer

    /// The stripes of a pool of `chunks` chunks: the smallest power of two
    /// at least `chunks`, at most ``maximumStripes``.
    static func stripes(for chunks: Int) -> Int {
        var n = 1
        while n < min(chunks, maximumStripes) { n <<= 1 }
        return n
    }

    init(chunks: Int, lanes: Int, placement: ChunkPlacement, pairs: Bool = false) {
        chunkCount = chunks
        laneCount = lanes
        var stripes = Self.stripes(for: chunks)
        #if PMEM_TEST_HOOKS
        if let forced = Pool.forcedLockStripes { stripes = forced }
        #endif
        precondition(stripes > 0 && stripes & (stripes - 1) == 0, "a power of two")
        stripeCount = stripes
        stripeMask = stripes - 1
        self.pairs = pairs && lanes >= 2
        syncWords = .allocate(byteCount: 128, alignment: 64)
        syncWords.initializeMemory(as: UInt8.self, repeating: 0, count: 128)
        // Each line starts a cache line: the sizes are whole lines
        // (pmem_lock_lines.h checks them), the first starts at one.
        var stripe = pmem_stripe_line()
        stripe.last_lane = -1
        stripeLines = Self.lines(stripes, of: stripe)
        laneLines = Self.lines(lanes, of: pmem_lane_line())
        poisonWord = .allocate(capacity: 8) // a line of its own, read by every commit
        poisonWord.initialize(repeating: 0, count: 8)
        self.placement = placement
    }

    /// `count` copies of `line`, the first at the start of a cache line.
    private static func lines<Line>(_ count: Int, of line: Line) -> UnsafeMutablePointer<Line> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Line>.stride, alignment: 64)
        let typed = raw.bindMemory(to: Line.self, capacity: max(count, 1))
        typed.initialize(repeating: line, count: max(count, 1))
        return typed
    }

    /// Frees the memory (the pool's deinit).
    func deallocate() {
        UnsafeMutableRawPointer(stripeLines).deallocate()
        UnsafeMutableRawPointer(laneLines).deallocate()
        poisonWord.deallocate()
        syncWords.deallocate()
    }

    var isPoisoned: Bool { pmem_load64(poisonWord) != 0 }

    /// Stops all further commits (and wakes those waiting for spares, to fail).
    func poison() {
        _ = pmem_cas64(poisonWord, 0, 1) // never over "closed"
        placement.wakeAll()
    }

    /// Whether ``close()`` stopped the pool (a poisoning that means "closed").
    var isClosed: Bool { pmem_load64(poisonWord) == 2 }

    /// Stops all further operations, as a poisoning does, but meaning "closed".
    func close() {
        pmem_store64(poisonWord, 2)
        placement.wakeAll()
    }

    /// Waits until no operation holds a stripe's lock (after ``close()``,
    /// none can take one again, so on return nothing is in flight).
    func waitForHolders() {
        for stripe in 0..<stripeCount {
            while pmem_trylock(stripeWord(stripe)) == 0 { sched_yield() }
            pmem_unlock(stripeWord(stripe))
        }
    }

    // MARK: Counters

    /// Adds to `lane`'s counters. Only the lane's holder writes them.
    @inline(__always)
    func add(lane: Int, commits: Int = 0, bytesRequested: Int = 0, inPlaceBytes: Int = 0, logBytes: Int = 0,
             appliedBytes: Int = 0, remapBytes: Int = 0, remaps: Int = 0, fences: Int = 0) {
        let base = pmem_lane_counters(laneLines + lane)!
        @inline(__always) func bump(_ i: Int, _ n: Int) {
            if n != 0 { pmem_store64(base + i, pmem_load64(base + i) &+ UInt64(n)) }
        }
        bump(0, commits); bump(1, bytesRequested); bump(2, inPlaceBytes); bump(3, logBytes)
        bump(4, appliedBytes); bump(5, remapBytes); bump(6, remaps); bump(7, fences)
    }

    /// Adds one in-place write of `bytes` bytes (8 stored, one fence) to the
    /// counters of chunk `logical`'s stripe. Only the stripe's lock holder
    /// writes them.
    @inline(__always)
    func addInPlace(chunk logical: Int, bytes: Int) {
        let base = pmem_stripe_in_place(line(of: logical))!
        @inline(__always) func bump(_ i: Int, _ n: Int) { pmem_store64(base + i, pmem_load64(base + i) &+ UInt64(n)) }
        bump(0, 1); bump(1, bytes); bump(2, 8); bump(3, 1)
    }

    /// Every lane's counters and every stripe's in-place ones, summed.
    var snapshot: PoolStatistics {
        var c = [Int](repeating: 0, count: 8)
        for lane in 0..<laneCount {
            let base = pmem_lane_counters(laneLines + lane)!
            for i in 0..<8 { c[i] += Int(truncatingIfNeeded: pmem_load64(base + i)) }
        }
        for stripe in 0..<stripeCount {
            let base = pmem_stripe_in_place(stripeLines + stripe)!
            // commits, bytes requested, in place, fences
            for (i, counter) in [0, 1, 2, 7].enumerated() { c[counter] += Int(truncatingIfNeeded: pmem_load64(base + i)) }
        }
        return PoolStatistics(commits: c[0], bytesRequested: c[1], inPlaceBytes: c[2], logBytes: c[3],
                              appliedBytes: c[4], remapBytes: c[5], remaps: c[6], fences: c[7])
    }

    // MARK: Chunks

    @inline(__always)
    private func line(of logical: Int) -> UnsafeMutablePointer<pmem_stripe_line> { stripeLines + (logical & stripeMask) }
    @inline(__always)
    private func stripeWord(_ stripe: Int) -> UnsafeMutablePointer<UInt32> { pmem_stripe_lock(stripeLines + stripe) }

    /// The lane of the last record that touched a chunk of `logical`'s
    /// stripe (-1: none). Read and written under the stripe's lock.
    func lastLane(_ logical: Int) -> Int { Int(line(of: logical).pointee.last_lane) }
    func setLastLane(_ logical: Int, _ lane: Int) { line(of: logical).pointee.last_lane = Int32(lane) }
    /// The sequence number of that record.
    func lastSequence(_ logical: Int) -> UInt64 { line(of: logical).pointee.last_sequence }
    func setLastSequence(_ logical: Int, _ value: UInt64) { line(of: logical).pointee.last_sequence = value }

    /// Takes stripe `stripe`'s lock, spinning briefly and then yielding.
    /// Returns false (holding nothing) once the locks are poisoned.
    private func lock(stripe: Int) -> Bool {
        let word = stripeWord(stripe)
        var spins = 0
        while pmem_trylock(word) == 0 {
            if isPoisoned { return false }
            spins += 1
            if spins < 64 { pmem_cpu_relax() } else { sched_yield() }
        }
        if isPoisoned {
            pmem_unlock(word)
            return false
        }
        return true
    }

    /// The stripe of chunk `logical`.
    func stripe(of logical: Int) -> Int { logical & stripeMask }

    /// Takes the lock of chunk `logical`'s stripe (see ``lock(stripe:)``).
    func lock(chunk logical: Int) -> Bool { lock(stripe: logical & stripeMask) }

    func unlock(chunk logical: Int) { pmem_unlock(stripeWord(logical & stripeMask)) }

    /// Takes the lock of chunk `logical`'s stripe if it is free, without
    /// waiting (false also when the caller holds it).
    func tryLock(chunk logical: Int) -> Bool { pmem_trylock(stripeWord(logical & stripeMask)) != 0 }

    /// Locks the stripes of the chunks `range`, each once, in ascending
    /// order (all or, when poisoned, none).
    func lock(chunks range: Range<Int>) -> Bool {
        lock(count: range.count) { range.lowerBound + $0 }
    }

    func unlock(chunks range: Range<Int>) { unlock(count: range.count) { range.lowerBound + $0 } }

    /// Locks the stripes of the `count` chunks `chunk(0..<count)`, each
    /// once, in ascending order (all or, when poisoned, none). Allocates
    /// nothing: the stripes are a bitmap on the stack.
    @inline(__always)
    func lock(count: Int, _ chunk: (Int) -> Int) -> Bool {
        if count == 1 { return lock(chunk: chunk(0)) }
        return withStripes(count, chunk) { stripes in
            for (i, s) in stripes.enumerated() where !lock(stripe: s) {
                for held in stripes.prefix(i) { pmem_unlock(stripeWord(held)) }
                return false
            }
            return true
        }
    }

    /// Releases what ``lock(count:_:)`` took.
    @inline(__always)
    func unlock(count: Int, _ chunk: (Int) -> Int) {
        if count == 1 { return unlock(chunk: chunk(0)) }
        _ = withStripes(count, chunk) { stripes in
            for s in stripes { pmem_unlock(stripeWord(s)) }
            return true
        }
    }

    /// Calls `body` with the distinct stripes of `chunk(0..<count)`, ascending.
    private func withStripes(_ count: Int, _ chunk: (Int) -> Int, _ body: (StripeSet) -> Bool) -> Bool {
        let words = (stripeCount + 63) / 64
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: words) { bits in
            bits.initialize(repeating: 0)
            if count >= stripeCount {
                for s in 0..<stripeCount { bits[s >> 6] |= 1 << UInt64(s & 63) }
            } else {
                for i in 0..<count {
                    let s = chunk(i) & stripeMask
                    bits[s >> 6] |= 1 << UInt64(s & 63)
                }
            }
            return body(StripeSet(bits: UnsafeBufferPointer(bits)))
        }
    }

    // MARK: Lanes

    private func laneWord(_ lane: Int) -> UnsafeMutablePointer<UInt32> { pmem_lane_lock(laneLines + lane) }

    /// The sequence number of the lane's last record (under the lane's lock).
    func laneSequence(_ lane: Int) -> UInt64 { laneLines[lane].sequence }
    func setLaneSequence(_ lane: Int, _ value: UInt64) { laneLines[lane].sequence = value }

    /// Takes a lane (with ``pairs``, a pair, named by its even lane): the
    /// one this thread used last in this pool if it is free, else the first
    /// free one from a place that depends on the thread. A thread that keeps
    /// committing keeps its lane, so lanes (their records, counters and lock
    /// words) do not move between cores.
    func acquireLane() -> Int {
        let step = pairs ? 2 : 1
        let units = laneCount / step
        #if PMEM_TEST_HOOKS
        if let forced = Pool.forcedLane {
            let lane = (forced % units) * step
            lockLane(lane)
            return lane
        }
        #endif
        let identity = UInt(bitPattern: laneLines)
        let hint = Int(pmem_lane_hint(identity))
        if hint >= 0, hint < units * step, hint % step == 0, pmem_trylock(laneWord(hint)) != 0 { return hint }
        let start = Int(truncatingIfNeeded: (UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))) >> 12) % UInt(units))
        var spins = 0
        while true {
            for i in 0..<units {
                let lane = ((start + i) % units) * step
                if pmem_trylock(laneWord(lane)) != 0 {
                    pmem_set_lane_hint(identity, Int32(lane))
                    return lane
                }
            }
            spins += 1
            if spins < 64 { pmem_cpu_relax() } else { sched_yield() }
        }
    }

    /// Takes one particular lane, waiting for its holder (who never waits
    /// for a chunk or a spare, so it always finishes).
    func lockLane(_ lane: Int) {
        var spins = 0
        while pmem_trylock(laneWord(lane)) == 0 {
            spins += 1
            if spins < 64 { pmem_cpu_relax() } else { sched_yield() }
        }
    }

    func releaseLane(_ lane: Int) { pmem_unlock(laneWord(lane)) }

    // MARK: Deferred applies

    /// The ticket a sync must have (or exceed) for `lane`'s record's apply to
    /// be durable; 0 when it already is. Under the lane's (pair's) lock.
    func pendingTicket(_ lane: Int) -> UInt64 { pmem_load64(pmem_lane_pending_ticket(laneLines + lane)) }
    func setPendingTicket(_ lane: Int, _ ticket: UInt64) { pmem_store64(pmem_lane_pending_ticket(laneLines + lane), ticket) }

    /// Whether `lane`'s record's apply is durable: a sync that began after
    /// the apply ended has itself ended.
    func applyIsDurable(_ lane: Int) -> Bool { pmem_load64(syncWords + 64) >= pendingTicket(lane) }

    /// The ticket of a sync that begins now. A full barrier: every store made
    /// before is visible to the sync that follows.
    func beginSync() -> UInt64 { pmem_fetch_add64(syncWords, 1) &+ 1 }

    func endSync(_ ticket: UInt64) { pmem_store_max64(syncWords + 64, ticket) }

    /// The ticket that the next sync to begin will have; called after an
    /// apply's last store (a full barrier, so the stores precede any sync
    /// that draws this ticket or a later one).
    func nextSyncTicket() -> UInt64 { pmem_fetch_add64(syncWords, 0) &+ 1 }
}

/// A set of stripes as a bitmap, iterated in ascending order.
struct StripeSet: Sequence {
    let bits: UnsafeBufferPointer<UInt64>

    struct Iterator: IteratorProtocol {
        let bits: UnsafeBufferPointer<UInt64>
        var word = 0
        var rest: UInt64

        init(bits: UnsafeBufferPointer<UInt64>) {
            self.bits = bits
            rest = bits.first ?? 0
        }

        mutating func next() -> Int? {
            while rest == 0 {
                word += 1
                guard word < bits.count else { return nil }
                rest = bits[word]
            }
            let bit = rest.trailingZeroBitCount
            rest &= rest - 1
            return word << 6 | bit
        }
    }

    func makeIterator() -> Iterator { Iterator(bits: bits) }
}
