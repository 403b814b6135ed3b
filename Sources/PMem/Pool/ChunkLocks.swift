import Glibc

/// Locks on logical chunks and the pool's lanes: a commit holds a lane and
/// every chunk it touches, so commits on disjoint chunks run in parallel and
/// overlapping ones wait for each other.
final class ChunkLocks: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var busy: Set<Int> = []
    private var freeLanes: [Int]
    /// Physical chunks no page-table entry names and no commit has taken.
    private var freeChunks: [Int]
    /// Set when a commit failed after its record was durable: until the pool
    /// is reopened (and recovery finishes that commit) nothing may write.
    private var poisoned = false

    init(lanes: Int, free: [Int]) {
        freeLanes = Array((0..<lanes).reversed())
        freeChunks = free
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
    }

    /// Waits until a lane is free, none of `chunks` is held and `spares`
    /// free physical chunks are there, then takes them all at once (so no
    /// two commits can wait for each other). The spares come lowest first,
    /// so that they tend to be consecutive.
    /// Returns nil (at once, or when it happens while waiting) once the
    /// locks are poisoned.
    func acquire(_ chunks: Set<Int>, spares: Int) -> (lane: Int, spares: [Int])? {
        pthread_mutex_lock(mutex)
        while !poisoned && (freeLanes.isEmpty || !busy.isDisjoint(with: chunks) || freeChunks.count < spares) {
            pthread_cond_wait(changed, mutex)
        }
        if poisoned {
            pthread_mutex_unlock(mutex)
            return nil
        }
        busy.formUnion(chunks)
        let lane = freeLanes.removeLast()
        let taken = Array(freeChunks.prefix(spares))
        freeChunks.removeFirst(spares)
        pthread_mutex_unlock(mutex)
        return (lane, taken)
    }

    /// `acquire` for one chunk and no spares, without building a set (the
    /// in-place path: a few hundred nanoseconds matter there).
    func acquire(chunk: Int) -> Int? {
        pthread_mutex_lock(mutex)
        while !poisoned && (freeLanes.isEmpty || busy.contains(chunk)) {
            pthread_cond_wait(changed, mutex)
        }
        if poisoned {
            pthread_mutex_unlock(mutex)
            return nil
        }
        busy.insert(chunk)
        let lane = freeLanes.removeLast()
        pthread_mutex_unlock(mutex)
        return lane
    }

    /// Gives back what `acquire(chunk:)` took.
    func release(chunk: Int, lane: Int) {
        pthread_mutex_lock(mutex)
        busy.remove(chunk)
        freeLanes.append(lane)
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Stops all further commits (and wakes those waiting, to fail).
    func poison() {
        pthread_mutex_lock(mutex)
        poisoned = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    var isPoisoned: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return poisoned
    }

    /// Gives back the lane and the chunks, and frees the physical chunks the
    /// commit replaced (only after its commit record was retired).
    func release(_ chunks: Set<Int>, lane: Int, freed: [Int]) {
        pthread_mutex_lock(mutex)
        busy.subtract(chunks)
        freeLanes.append(lane)
        if !freed.isEmpty {
            freeChunks.append(contentsOf: freed)
            freeChunks.sort()
        }
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }
}
