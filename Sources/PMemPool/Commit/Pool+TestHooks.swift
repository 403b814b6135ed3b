import PMemSystem
import PMemMapping
import PMemSealing
import Synchronization
/// Points in a commit (and in recovery) where tests stop the code as a crash
/// would: nothing after the point runs, nothing before it is undone.
/// `package` so that the package's fuzzer and tests can stop at one.
package enum CrashPoint: String, Sendable, CaseIterable {
    /// The log body is written, its record header not yet: a process that
    /// dies here leaves the lane without a valid record (all old).
    case afterLogBody
    /// The commit fence has returned (all new).
    case afterCommitRecord
    /// The apply fence has returned, the view not yet remapped.
    case afterApply
    /// Recovery has applied and fenced its first record, not yet cleared it.
    case duringRecovery
}

/// Every call site of a flush, fence, flushing or non-temporal copy, and
/// sync in the commit paths, the in-place and persist paths and recovery,
/// by a stable name: a test leaves out the call at one site (the mutation
/// check of the crash model, which must then find a violation), and a test
/// build notes which sites ran. `scripts/check-persistence-sites` fails on
/// a call without a site, and on a site named twice.
package enum PersistenceSite: String, Sendable, CaseIterable {
    // A write that leaves no record kills the record still valid for its
    // chunk (cache-line flushes: one kill, one fence; msync path: the
    // pair's older slot in a sync of its own, then the last record).
    case noRecordKillFlush, noRecordKillFence
    case noRecordOlderSlotKillSync, noRecordLastSlotKillSync
    /// A deferred apply made durable before its record is overwritten or killed.
    case settleSync
    // In place: the word (non-temporal, or stored and flushed), the fence.
    case inPlaceStream, inPlaceFlush, inPlaceFence
    // One logged write, cache-line flushes: the payload streamed and
    // checksummed in one pass, or copied with libpmem2's flushing copy
    // (where the CPU has no one-pass copy), or through the cache when small.
    case streamedLogPayloadCopy, streamedLogHeaderFlush
    case copiedLogPayloadCopy, copiedLogHeaderFlush, copiedLogPaddingFlush
    case logRecordFlush, logCommitFence, logApplyCopy, logApplyFence
    /// One logged write on the msync path: the commit point.
    case deferredLogCommitSync
    // One remapped chunk, cache-line flushes.
    case remapBytesBeforeCopy, remapBytesAfterCopy, remapWriteCopy, remapDataFence
    case remapRecordFlush, remapCommitFence, remapPageTableFlush, remapApplyFence
    // One remapped chunk on the msync path (lanes in pairs).
    case pairedRemapDataSync, pairedRemapKillSync, pairedRemapCommitSync
    // The general commit (any set of writes).
    case commitSettleSync, commitFirstWaveKillFlush, commitFirstWaveKillFence, commitSecondWaveKillFlush, commitKillFlush
    case commitRemapKeptBytesCopy, commitRemapWriteCopy, commitRemapDataFence
    case commitRecordFlush, commitFence, commitApplyCopy, commitPageTableFlush, commitApplyFence
    // Pool.persist, and a close on the msync path.
    case persistFlush, persistFence, closeSync
    // Recovery: what it reads made durable (a dead process's stores may be
    // only in the cache), then each record applied, fenced, cleared, fenced.
    case recoveryLaneReadFlush, recoveryPageTableReadFlush, recoveryFileReadSync, recoveryReadFence
    case recoveryApplyCopy, recoveryPageTableFlush, recoveryApplyFence, recoveryClearFlush, recoveryClearFence
    case recoveryRemnantClearFence
}

#if PMEM_TEST_HOOKS
/// The sites a test build passed through, while a test listens.
package final class PersistenceSiteRecorder: Sendable {
    private let seen = Mutex(Set<PersistenceSite>())
    package init() {}
    func note(_ site: PersistenceSite) { seen.withLock { _ = $0.insert(site) } }
    package var sites: Set<PersistenceSite> { seen.withLock { $0 } }
}
#endif

extension Pool {
    #if PMEM_TEST_HOOKS
    /// The crash point for the current task (tests only; nil otherwise).
    /// Read only in builds with test hooks (debug): a release build never
    /// looks at it.
    @TaskLocal package static var crashPoint: CrashPoint?
    #endif

    #if PMEM_TEST_HOOKS
    /// The site whose call is left out in the current task (tests only; nil otherwise).
    @TaskLocal package static var droppedSite: PersistenceSite?
    /// Notes the sites passed in the current task (tests only).
    @TaskLocal package static var siteRecorder: PersistenceSiteRecorder?
    #endif

    /// Throws the simulated crash at `point` when a test asked for it.
    @inline(__always)
    static func simulateCrash(at point: CrashPoint) throws(PMemError) {
        #if PMEM_TEST_HOOKS
        if crashPoint == point { throw PMemError(.simulatedCrash, "simulated crash at \(point)") }
        #endif
    }

    /// Whether a test left out the call at `site` (always false without
    /// test hooks, where the call is all that remains).
    @inline(__always)
    static func drops(_ site: PersistenceSite) -> Bool {
        #if PMEM_TEST_HOOKS
        siteRecorder?.note(site)
        return droppedSite == site
        #else
        return false
        #endif
    }

    #if PMEM_TEST_HOOKS
    /// The lane a commit with no live record to overwrite must take, in the
    /// current task (tests: so that chunks pass between lanes).
    @TaskLocal static var forcedLane: Int?

    /// The mapping budget a pool opened in the current task claims from,
    /// instead of the process's (tests: a small one, without starving the
    /// pools of tests running beside).
    @TaskLocal package static var forcedMappingBudget: ViewMappingBudget?

    /// The number of lock stripes (a power of two) of a pool opened in the
    /// current task, instead of one per chunk up to
    /// ``ChunkLocks/maximumStripes`` (tests: a small pool whose chunks share
    /// stripes, as those of a large one do).
    @TaskLocal package static var forcedLockStripes: Int?

    /// How many chunks may be away before a remap that finds the spare
    /// region full homes one rather than taking another chunk's free home
    /// (``ChunkPlacement/homingAway``), for a pool opened in the current
    /// task (tests: a small pool that homes as a large one does).
    @TaskLocal package static var forcedHomingAway: Int?
    #endif

    /// Whether the build carries test hooks (crash points, dropped steps).
    package static var hasTestHooks: Bool {
        #if PMEM_TEST_HOOKS
        return true
        #else
        return false
        #endif
    }
}
