import PMemSystem
import Synchronization

/// The mappings the pools of a process may use for their views, shared by
/// every pool it opens (docs/FORMAT.md, "Chunk placement").
///
/// The kernel refuses a process more than `vm.max_map_count` mappings
/// (65,530 by default), and a refused `mmap` after a commit point would
/// leave the view behind the durable page table. So each pool claims the
/// most its view can need (``ChunkPlacement``) before a commit can need it,
/// and the process's pools together claim at most half of
/// `vm.max_map_count`: the other half is left for the rest of the process
/// (its libraries, thread stacks, allocator arenas).
package final class ViewMappingBudget: Sendable {
    /// The budget of this process's pools.
    static let process = ViewMappingBudget(limit: processLimit)

    /// Half of `vm.max_map_count`, read once.
    static let processLimit = (readInteger("/proc/sys/vm/max_map_count") ?? 65530) / 2

    package let limit: Int
    private let used = Atomic<Int>(0)

    package init(limit: Int) { self.limit = limit }

    package var inUse: Int { used.load(ordering: .relaxed) }

    /// Claims `count` more mappings; false (nothing claimed) if that would pass the limit.
    func claim(_ count: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard current + count <= limit else { return false }
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + count, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func release(_ count: Int) {
        if count > 0 { used.subtract(count, ordering: .relaxed) }
    }
}
