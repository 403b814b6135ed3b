import PMemSystem
import Synchronization

/// Mappings held in hand for the view's remaps (docs/FORMAT.md, "Chunk
/// placement"). The budget bounds what the pool's views claim, but the rest
/// of the process may use up its mappings, and a `MAP_FIXED` refused after a
/// commit point leaves the view behind the durable page table. So before its
/// commit point a remapping commit *holds* two mappings per chunk: it makes
/// one page of a private reservation readable, which splits the reservation
/// in three (and fails with ENOMEM, cleanly, when the process has no room).
/// Just before each `MAP_FIXED` of the view, it gives one back (the page is
/// made inaccessible again and the three mappings merge), so the view's
/// remap, which needs at most two, finds them free.
///
/// A page per remapped chunk in flight: at most the pool's spare chunks, so
/// the reservation is `2 × spare + 1` pages of address space, never touched.
///
/// One gate for the process: a hold and a give-back-and-map never overlap,
/// so no other pool's commit takes the two mappings between a release and
/// its `MAP_FIXED`. (Another library's `mmap` in the process still can; the
/// budget leaves the rest of the process half of `vm.max_map_count`.)
final class MappingReserve: @unchecked Sendable {
    private let region: UnsafeMutableRawPointer?
    private let pageSize = 4096
    private let pages: Int
    /// Page slots not held, by index (slot `i` is page `2i + 1`).
    private let free: Mutex<[Int]>
    private static let gate = Mutex(())

    /// A reservation with `slots` slots; nil region (nothing held ever) if
    /// the address space could not be reserved, which the open reports.
    init(slots: Int) throws(PMemError) {
        pages = 2 * slots + 1
        switch Syscalls.reserveAddressSpace(pages * pageSize) {
        case .success(let p): region = p
        case .failure(let errno): throw PMemError.system(errno, "reserving address space for the pool's mapping reserve")
        }
        free = Mutex(Array((0..<slots).reversed()))
    }

    deinit {
        if let region { Syscalls.unmap(region, pages * pageSize) }
    }

    private func page(_ slot: Int) -> UnsafeMutableRawPointer { region! + (2 * slot + 1) * pageSize }

    /// Holds `count` slots (two mappings each) into `out`; false, holding
    /// none, when the process has no mappings left for them (or, never in a
    /// pool, no slot is free).
    func hold(_ count: Int, into out: UnsafeMutableBufferPointer<Int>) -> Bool {
        let taken: Bool = free.withLock { free in
            guard free.count >= count else { return false }
            for i in 0..<count { out[i] = free.removeLast() }
            return true
        }
        guard taken else { return false }
        let held = Self.gate.withLock { _ in
            for i in 0..<count {
                if case .failure = Syscalls.protect(page(out[i]), pageSize, readable: true) {
                    // Give back what was held.
                    for j in 0..<i { _ = Syscalls.protect(page(out[j]), pageSize, readable: false) }
                    return false
                }
            }
            return true
        }
        if !held { free.withLock { free in for j in 0..<count { free.append(out[j]) } } }
        return held
    }

    /// Gives slot `slot`'s two mappings back to the process (just before the
    /// `MAP_FIXED` that needs them). Making a page inaccessible again merges
    /// it with its neighbours: it needs no new mapping, so it cannot fail
    /// for want of one.
    func release(_ slot: Int) {
        Self.gate.withLock { _ in _ = Syscalls.protect(page(slot), pageSize, readable: false) }
        free.withLock { $0.append(slot) }
    }

    /// Gives slot `slot` back and runs `map` (the `MAP_FIXED` that needs its
    /// two mappings) before any other hold can take them.
    func release(_ slot: Int, thenMap map: () throws(PMemError) -> Void) throws(PMemError) {
        defer { free.withLock { $0.append(slot) } }
        try Self.gate.withLock { (_) throws(PMemError) in
            _ = Syscalls.protect(page(slot), pageSize, readable: false)
            try map()
        }
    }
}
