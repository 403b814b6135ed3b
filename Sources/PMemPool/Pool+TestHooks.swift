import PMemSystem
import PMemMapping
import PMemSealing
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

/// Persistence steps that a test can drop, one at a time, to show that the
/// crash checker notices (the mutation check of the crash model): every
/// flush and fence of the commit, in-place, persist and recovery paths.
enum PersistenceStep: Sendable, CaseIterable {
    case remapDataFlush, remapDataFence, logFlush, commitFence, applyFlush, pageTableFlush, applyFence
    case killFlush, killFence, inPlaceFlush, inPlaceFence, persistFence
    /// The sync that makes a deferred apply durable before its record is
    /// overwritten or killed (docs/FORMAT.md, "Deferred apply").
    case settleSync
    /// Recovery's first steps: what it reads made durable (a dead process's
    /// stores may be only in the cache).
    case recoveryReadFlush, recoveryReadFence
    case recoveryApplyFence, recoveryClearFlush, recoveryClearFence
}

extension Pool {
    #if PMEM_TEST_HOOKS
    /// The crash point for the current task (tests only; nil otherwise).
    /// Read only in builds with test hooks (debug): a release build never
    /// looks at it.
    @TaskLocal package static var crashPoint: CrashPoint?
    #endif

    #if PMEM_TEST_HOOKS
    /// The step to leave out in the current task (tests only; nil otherwise).
    @TaskLocal static var droppedStep: PersistenceStep?
    #endif

    /// Throws the simulated crash at `point` when a test asked for it.
    @inline(__always)
    static func simulateCrash(at point: CrashPoint) throws(PMemError) {
        #if PMEM_TEST_HOOKS
        if crashPoint == point { throw PMemError(.simulatedCrash, "simulated crash at \(point)") }
        #endif
    }

    /// Whether a test dropped `step` (always false without test hooks).
    @inline(__always)
    static func drops(_ step: PersistenceStep) -> Bool {
        #if PMEM_TEST_HOOKS
        return droppedStep == step
        #else
        return false
        #endif
    }

    #if PMEM_TEST_HOOKS
    /// The lane a commit with no live record to overwrite must take, in the
    /// current task (tests: so that chunks pass between lanes).
    @TaskLocal static var forcedLane: Int?
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
