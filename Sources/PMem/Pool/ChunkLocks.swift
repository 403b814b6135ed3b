import CPMemAtomics
import Glibc
import Synchronization

/// The pool's locks, without a pool-wide mutex on the commit path: one lock
/// word per logical chunk, one per lane (each lane's on its own cache line),
/// and a mutex only around the free physical chunks, which only remapping
/// commits take. A commit takes its chunks in ascending order, then its
/// spares, then lanes (several only in ascending order), and a lane's holder
/// never waits for a chunk or a spare: so no two commits wait for each other
/// in a cycle. A lane's record is written and flushed only by the lane's
/// holder (kills included), so no two threads flush one record's line.
///
/// Beside each chunk's lock lives what the commit protocol needs to know
/// about the chunk (docs/FORMAT.md, "Sequence numbers"): the lane and
/// sequence number of the last record that touched it. Both change only
/// under the chunk's lock.
final class ChunkLocks: @unchecked Sendable {
    let chunkCount: Int
    let laneCount: Int
    /// Per logical chunk, a cache line of its own (so that threads on
    /// different chunks write no common line): the lock word at 0, the lane
    /// of the last record that touched the chunk at 4 (-1: none), that
    /// record's sequence number at 8 (0: none since the pool was opened).
    private let chunkLines: UnsafeMutableRawPointer
    static let chunkStride = 64
    /// Per lane, 64 bytes: the lock word at 0, the lane's last sequence at 8.
    private let laneLines: UnsafeMutableRawPointer
    /// Physical chunks no page-table entry names and no commit has taken,
    /// sorted, with room for all of them (never reallocated).
    private var freeChunks: [Int]
    private let freeMutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let freeChanged = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Set when a commit failed after its record was durable: until the pool
    /// is reopened (and recovery finishes that commit) nothing may write.
    private let poisoned = Atomic<Bool>(false)

    init(chunks: Int, lanes: Int, free: [Int], physicalChunks: Int) {
        chunkCount = chunks
        laneCount = lanes
        chunkLines = .allocate(byteCount: Self.chunkStride * chunks, alignment: 64)
        chunkLines.initializeMemory(as: UInt8.self, repeating: 0, count: Self.chunkStride * chunks)
        for c in 0..<chunks { (chunkLines + Self.chunkStride * c + 4).storeBytes(of: Int32(-1), as: Int32.self) }
        laneLines = .allocate(byteCount: 64 * lanes, alignment: 64)
        laneLines.initializeMemory(as: UInt8.self, repeating: 0, count: 64 * lanes)
        freeChunks = free
        freeChunks.reserveCapacity(physicalChunks)
        pthread_mutex_init(freeMutex, nil)
        pthread_cond_init(freeChanged, nil)
    }

    deinit {
        chunkLines.deallocate()
        laneLines.deallocate()
        pthread_cond_destroy(freeChanged)
        pthread_mutex_destroy(freeMutex)
        freeMutex.deallocate()
        freeChanged.deallocate()
    }

    var isPoisoned: Bool { poisoned.load(ordering: .relaxed) }

    /// Stops all further commits (and wakes those waiting for spares, to fail).
    func poison() {
        poisoned.store(true, ordering: .relaxed)
        pthread_mutex_lock(freeMutex)
        pthread_cond_broadcast(freeChanged)
        pthread_mutex_unlock(freeMutex)
    }

    // MARK: Chunks

    private func chunkWord(_ logical: Int) -> UnsafeMutablePointer<UInt32> {
        (chunkLines + Self.chunkStride * logical).assumingMemoryBound(to: UInt32.self)
    }

    /// The lane of the last record that touched chunk `logical` (-1: none).
    /// Read and written under the chunk's lock.
    func lastLane(_ logical: Int) -> Int { Int((chunkLines + Self.chunkStride * logical + 4).load(as: Int32.self)) }
    func setLastLane(_ logical: Int, _ lane: Int) { (chunkLines + Self.chunkStride * logical + 4).storeBytes(of: Int32(lane), as: Int32.self) }
    /// The sequence number of the last record that touched chunk `logical`.
    func lastSequence(_ logical: Int) -> UInt64 { (chunkLines + Self.chunkStride * logical + 8).load(as: UInt64.self) }
    func setLastSequence(_ logical: Int, _ value: UInt64) { (chunkLines + Self.chunkStride * logical + 8).storeBytes(of: value, as: UInt64.self) }

    /// Takes chunk `logical`'s lock, spinning briefly and then yielding.
    /// Returns false (holding nothing) once the locks are poisoned.
    func lock(chunk logical: Int) -> Bool {
        let word = chunkWord(logical)
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

    func unlock(chunk logical: Int) { pmem_unlock(chunkWord(logical)) }

    /// Locks the chunks `range` in ascending order (all or, when poisoned, none).
    func lock(chunks range: Range<Int>) -> Bool {
        for l in range where !lock(chunk: l) {
            for held in range.lowerBound..<l { unlock(chunk: held) }
            return false
        }
        return true
    }

    func unlock(chunks range: Range<Int>) { for l in range { unlock(chunk: l) } }

    // MARK: Lanes

    private func laneWord(_ lane: Int) -> UnsafeMutablePointer<UInt32> {
        (laneLines + 64 * lane).assumingMemoryBound(to: UInt32.self)
    }

    /// The sequence number of the lane's last record (under the lane's lock).
    func laneSequence(_ lane: Int) -> UInt64 { (laneLines + 64 * lane + 8).load(as: UInt64.self) }
    func setLaneSequence(_ lane: Int, _ value: UInt64) { (laneLines + 64 * lane + 8).storeBytes(of: value, as: UInt64.self) }

    /// Takes a lane: the one this thread used last in this pool if it is
    /// free, else the first free one from a place that depends on the thread.
    /// A thread that keeps committing keeps its lane, so lanes (their
    /// records, counters and lock words) do not move between cores.
    func acquireLane() -> Int {
        #if PMEM_TEST_HOOKS
        if let forced = Pool.forcedLane, forced < laneCount {
            lockLane(forced)
            return forced
        }
        #endif
        let identity = UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque())
        let hint = Int(pmem_lane_hint(identity))
        if hint >= 0, hint < laneCount, pmem_trylock(laneWord(hint)) != 0 { return hint }
        let start = Int(truncatingIfNeeded: (UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))) >> 12) % UInt(laneCount))
        var spins = 0
        while true {
            for i in 0..<laneCount {
                let lane = (start + i) % laneCount
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

    // MARK: Free physical chunks

    /// Takes `count` free physical chunks, lowest first (so that they tend to
    /// be consecutive), waiting for commits in flight to free some. Writes
    /// them to `out`. Returns false when poisoned.
    func takeSpares(_ count: Int, into out: UnsafeMutableBufferPointer<Int>) -> Bool {
        pthread_mutex_lock(freeMutex)
        defer { pthread_mutex_unlock(freeMutex) }
        while !isPoisoned && freeChunks.count < count { pthread_cond_wait(freeChanged, freeMutex) }
        if isPoisoned { return false }
        for i in 0..<count { out[i] = freeChunks[i] }
        freeChunks.removeFirst(count)
        return true
    }

    /// Gives back physical chunks: spares never named anywhere, or chunks a
    /// commit replaced once its page-table entries were durable.
    func free(_ chunks: UnsafeBufferPointer<Int>) {
        guard !chunks.isEmpty else { return }
        pthread_mutex_lock(freeMutex)
        for c in chunks {
            // Sorted insert: no reallocation (capacity is reserved), no sort buffer.
            var i = freeChunks.count
            freeChunks.append(c)
            while i > 0 && freeChunks[i - 1] > c {
                freeChunks[i] = freeChunks[i - 1]
                i -= 1
            }
            freeChunks[i] = c
        }
        pthread_cond_broadcast(freeChanged)
        pthread_mutex_unlock(freeMutex)
    }

    /// Free chunks now (for Pool.check).
    var freeCount: Int {
        pthread_mutex_lock(freeMutex)
        defer { pthread_mutex_unlock(freeMutex) }
        return freeChunks.count
    }
}
