import PMemSystem
import CPMemAtomics
import Glibc

/// Where remapped chunks go, and which physical chunks are free
/// (docs/FORMAT.md, "Chunk placement").
///
/// Logical chunk `L` is *at home* in physical chunk `L`, or *away*. A remap
/// takes `L` home when its home is free, else a free chunk of the spare
/// region (physical chunks from `logicalChunks` on), else another chunk's
/// free home while no more than ``homingAway`` chunks would be away (no copy
/// beyond the write's own); past that, or when no chunk can be homed now
/// (they are all locked, by this commit among others), other chunks are
/// homed first.
///
/// An away chunk splits the view at most twice, so the view needs at most
/// `1 + 2 × away` mappings (and never more than one per chunk). The pool
/// claims that many from a ``ViewMappingBudget``; a commit that would pass it
/// first homes other chunks (Pool+Homing.swift). A chunk counts as away from
/// the moment a commit reserves an away chunk for it until a later commit's
/// view shows it at home again, so the view never holds more than the claim.
///
/// Every operation is O(1) for each chunk it places: an owner per physical
/// chunk, the free chunks in two indexed sets (spare region, homes), the away
/// chunks in a third; under one mutex, which only remapping commits take.
final class ChunkPlacement: @unchecked Sendable {
    let logicalChunks: Int
    let physicalChunks: Int
    /// For each physical chunk, the logical chunk it holds or is reserved
    /// for; -1 when free; -2 when free but never to be used (bad blocks).
    private let owner: UnsafeMutablePointer<Int32>
    /// The free chunks of the spare region, and the free homes.
    private var freeSpare: IndexedSet
    private var freeHomes: IndexedSet
    /// The logical chunks away from home, in the view or reserved.
    private var away: IndexedSet
    /// Remapping commits between their reservation and their settling (or
    /// cancelling): chunks they hold come back when they finish.
    private var inFlight = 0
    /// Where the search for a chunk to home starts next.
    private var homingCursor = 0
    /// Chunks homed to make room, since the open.
    private var homings = 0
    let budget: ViewMappingBudget
    /// The mappings claimed from `budget`: the view's bound, plus one for
    /// the file mapping.
    private var claimed = 0
    /// Up to this many chunks away, a remap that finds the spare region full
    /// takes another chunk's free home instead of homing one (a copy of a
    /// whole chunk): at least the spare chunks (homing no sooner than a pool
    /// whose away chunks all lie in the spare region), else 256 (a view of
    /// up to 513 mappings: the process's budget, shared by its pools, holds
    /// about sixty such), or less where the budget is small.
    let homingAway: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// Physical chunks with bad blocks (docs/FORMAT.md, "Media errors and
    /// unsafe shutdowns"): never handed out, and a chunk stored on one is
    /// never homed (that would read it).
    private let unusable: Set<Int>

    /// The placement of `table` (logical -> physical, checked: in range, no
    /// physical chunk twice). Claims nothing yet (``claimAtOpen()``).
    init(table: UnsafeBufferPointer<Int>, physicalChunks: Int, unusable: Set<Int>, budget: ViewMappingBudget, homingAway: Int? = nil) {
        self.unusable = unusable
        logicalChunks = table.count
        self.physicalChunks = physicalChunks
        self.budget = budget
        self.homingAway = homingAway ?? max(physicalChunks - table.count, min(256, (budget.limit / 8 - 2) / 2))
        owner = .allocate(capacity: max(physicalChunks, 1))
        owner.initialize(repeating: -1, count: max(physicalChunks, 1))
        freeSpare = IndexedSet(universe: physicalChunks)
        freeHomes = IndexedSet(universe: physicalChunks)
        away = IndexedSet(universe: table.count)
        for (l, p) in table.enumerated() {
            owner[p] = Int32(l)
            if p != l { away.insert(l) }
        }
        // Pushed highest first, so the lowest is taken first: a run of
        // remaps from a fresh pool lands in consecutive chunks.
        for p in stride(from: physicalChunks - 1, through: 0, by: -1) where owner[p] < 0 {
            if unusable.contains(p) { owner[p] = -2 } else if p >= logicalChunks { freeSpare.insert(p) } else { freeHomes.insert(p) }
        }
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        budget.release(claimed)
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
        owner.deallocate()
        freeSpare.deallocate()
        freeHomes.deallocate()
        away.deallocate()
    }

    /// The mappings the view and the file mapping need at most with `awayCount` chunks away.
    private func bound(_ awayCount: Int) -> Int { 1 + min(logicalChunks, 1 + 2 * awayCount) }

    var awayCount: Int { locked { away.count } }
    var homingCount: Int { locked { homings } }
    func noteHoming() { locked { homings += 1 } }

    /// Claims the open's mappings. False when the budget has no room for
    /// them: the open homes chunks first (``nextToHome(tryLock:)``).
    func claimAtOpen() -> Bool { locked { reclaim(for: away.count) } }

    /// Brings the claim to the bound for `awayCount`; false (nothing changed)
    /// when the budget refuses a rise.
    private func reclaim(for awayCount: Int) -> Bool {
        let wanted = bound(awayCount)
        if wanted > claimed {
            guard budget.claim(wanted - claimed) else { return false }
        } else if wanted < claimed {
            budget.release(claimed - wanted)
        }
        claimed = wanted
        return true
    }

    enum Reservation { case reserved, needsRoom, poisoned }

    /// Reserves a physical chunk for each logical chunk in `chunks` (whose
    /// current places `current` gives) into `out`: its home if free, else a
    /// free chunk of the spare region, else another chunk's free home if no
    /// more than ``homingAway`` chunks would be away, or if `anyFree`. All
    /// or nothing. `.needsRoom` when that leaves no room, or the budget has
    /// none: a chunk must be homed first, or a commit in flight must finish.
    func reserve(_ chunks: UnsafeBufferPointer<Int>, current: (Int) -> Int, into out: UnsafeMutableBufferPointer<Int>,
                 anyFree: Bool, poisoned: UnsafeMutablePointer<UInt64>) -> Reservation {
        lock()
        defer { unlock() }
        if pmem_load64(poisoned) != 0 { return .poisoned }
        var homes = 0, leaving = 0
        for l in chunks {
            if owner[l] == -1 { homes += 1 } else if current(l) == l { leaving += 1 }
        }
        let outside = chunks.count - homes
        if freeSpare.count < outside {
            guard anyFree || away.count + leaving <= homingAway,
                  freeSpare.count + freeHomes.count - homes >= outside else { return .needsRoom }
        }
        if leaving > 0 { guard reclaim(for: away.count + leaving) else { return .needsRoom } }
        for (i, l) in chunks.enumerated() {
            let p: Int
            if owner[l] == -1 {
                p = l
                freeHomes.remove(p)
            } else if let s = freeSpare.popLast() {
                p = s
            } else {
                p = freeHomes.popLast()!
            }
            owner[p] = Int32(l)
            out[i] = p
            if current(l) == l { away.insert(l) }
        }
        inFlight += 1
        return .reserved
    }

    /// Gives back what ``reserve(_:current:into:poisoned:)`` took, for a
    /// commit that failed before its commit point (nothing names them).
    func cancel(_ chunks: UnsafeBufferPointer<Int>, current: (Int) -> Int, reserved: UnsafeBufferPointer<Int>) {
        lock()
        for (l, p) in zip(chunks, reserved) {
            makeFree(p)
            if current(l) == l { away.remove(l) }
        }
        _ = reclaim(for: away.count)
        inFlight -= 1
        pthread_cond_broadcast(changed)
        unlock()
    }

    /// After a commit's page-table entries are durable and the view shows
    /// them: `chunks` moved from `replaced` to `now`; the replaced chunks are free.
    func settle(_ chunks: UnsafeBufferPointer<Int>, replaced: UnsafeBufferPointer<Int>, now: UnsafeBufferPointer<Int>) {
        lock()
        for i in 0..<chunks.count {
            makeFree(replaced[i])
            if now[i] == chunks[i] { away.remove(chunks[i]) }
        }
        _ = reclaim(for: away.count)
        inFlight -= 1
        pthread_cond_broadcast(changed)
        unlock()
    }

    private func makeFree(_ p: Int) {
        if unusable.contains(p) {
            owner[p] = -2
            return
        }
        owner[p] = -1
        if p >= logicalChunks { freeSpare.insert(p) } else { freeHomes.insert(p) }
    }

    /// Whether physical chunk `p` has bad blocks.
    func isUnusable(_ p: Int) -> Bool { !unusable.isEmpty && unusable.contains(p) }

    /// An away chunk whose home is free, for which `tryLock` (which must not
    /// block) returned true, leaving it locked; nil when there is none to
    /// take now. The caller homes it and unlocks it.
    ///
    /// When no away chunk's home is free but the spare region has room, an
    /// away chunk for which `tryLock(l, true)` returned true instead: one
    /// that sits in another's home, which the caller checks under its lock.
    /// The caller's "homing" moves it into the spare region, which frees
    /// that home. Away chunks that sit in each other's homes (a cycle) are
    /// homed this way, one extra copy per cycle.
    func nextToHome(tryLock: (_ chunk: Int, _ inAnotherHome: Bool) -> Bool) -> Int? {
        lock()
        defer { unlock() }
        let count = away.count
        guard count > 0 else { return nil }
        for i in 0..<count {
            let l = away.element(at: (homingCursor + i) % count)
            guard owner[l] == -1, tryLock(l, false) else { continue }
            homingCursor = (homingCursor + i + 1) % count
            return l
        }
        guard freeSpare.count > 0 else { return nil }
        for i in 0..<count {
            let l = away.element(at: (homingCursor + i) % count)
            guard tryLock(l, true) else { continue }
            homingCursor = (homingCursor + i + 1) % count
            return l
        }
        return nil
    }

    /// Waits until a commit in flight settles or cancels (or `deadline`
    /// passes). False when none is in flight: waiting could not help.
    func waitForChange(until deadline: timespec, poisoned: UnsafeMutablePointer<UInt64>) -> Bool {
        lock()
        defer { unlock() }
        guard inFlight > 0, pmem_load64(poisoned) == 0 else { return false }
        var at = deadline
        return pthread_cond_timedwait(changed, mutex, &at) == 0
    }

    func wakeAll() {
        lock()
        pthread_cond_broadcast(changed)
        unlock()
    }

    private func lock() { pthread_mutex_lock(mutex) }
    private func unlock() { pthread_mutex_unlock(mutex) }
    private func locked<T>(_ body: () -> T) -> T {
        lock()
        defer { unlock() }
        return body()
    }
}

/// A set of integers below `universe` with O(1) insert, remove, pop and
/// indexed access: the members in an array, each member's place plus one
/// in a second (0: not a member). Both come from the allocator untouched
/// (`calloc`'s zeros, for a large set the kernel's zero pages), so making
/// a set costs nothing per element until elements come in: an open of a
/// pool of millions of chunks, nearly all at home, fills only what it uses.
struct IndexedSet {
    private let members: UnsafeMutablePointer<Int32>
    private let place: UnsafeMutablePointer<Int32>
    private(set) var count = 0

    init(universe: Int) {
        let n = max(universe, 1)
        members = .allocate(capacity: n)
        guard let zeros = calloc(n, MemoryLayout<Int32>.stride) else { fatalError("out of memory for \(n) chunks") }
        place = zeros.bindMemory(to: Int32.self, capacity: n)
    }

    func deallocate() {
        members.deallocate()
        free(place)
    }

    func contains(_ x: Int) -> Bool { place[x] != 0 }
    func element(at i: Int) -> Int { Int(members[i]) }

    mutating func insert(_ x: Int) {
        guard place[x] == 0 else { return }
        members[count] = Int32(x)
        count += 1
        place[x] = Int32(count)
    }

    mutating func remove(_ x: Int) {
        let i = Int(place[x]) - 1
        guard i >= 0 else { return }
        count -= 1
        let last = members[count]
        members[i] = last
        place[Int(last)] = Int32(i + 1)
        place[x] = 0
    }

    mutating func popLast() -> Int? {
        guard count > 0 else { return nil }
        let x = Int(members[count - 1])
        remove(x)
        return x
    }
}
