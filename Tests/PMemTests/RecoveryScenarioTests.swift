@testable import PMemPool
@testable import PMemCrashTesting
import PMemTestSupport
import Testing

/// The four crash scenarios of issue 26, in which recovery acted on state
/// that was only in the cache (or the page cache) after a process died, or
/// a second fault during recovery undid an acknowledged write
/// (docs/FORMAT.md, "Recovery argument"). Each runs its operations through
/// the crash model with every check at every fence: power loss, a process
/// death followed by a recovery that power loss interrupts anywhere, and
/// crashes (power loss and process death) during recovery.
@Suite("Recovery acts only on what is durable: the four scenarios", .serialized)
struct RecoveryScenarioTests {
    /// A checker that checks power loss only while the scenario is set up.
    static func checker(_ pool: Pool, _ domain: SimulatedPersistenceDomain, seed: UInt64) -> CrashChecker {
        let checker = CrashChecker(pool: pool, domain: domain, seed: seed, mixes: 32)
        checker.recoveryCrashEvery = .max
        checker.processDeathEvery = 0
        return checker
    }

    static func fill(_ byte: Character, _ count: Int) -> [UInt8] { [UInt8](repeating: byte.asciiValue!, count: count) }

    @Test("DAX: a record only in the cache when the process dies is not applied over a durable older record of its lane")
    func recordOnlyInCache() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (pool, domain) = try simulatedPool(scratch)
        let checker = Self.checker(pool, domain, seed: 26_1)
        // R1 in lane 0, acknowledged; then C over part of it, in the same
        // lane: the process dies with C's record stored but not flushed.
        try checker.run([(0, Self.fill("A", 100))], label: "R1", lane: 0)
        checker.thorough()
        try checker.run([(50, Self.fill("C", 100))], label: "C over R1", lane: 0)
        #expect(checker.processDeath.images > 20)
        #expect(checker.processDeath.violations == 0, "\(checker.processDeath.first ?? "")")
        #expect(checker.violations == 0, "\(checker.firstViolation ?? "")")
    }

    @Test("DAX: a lane cleared by a recovery that died before its flush is cleared on the media by the next")
    func clearOnlyInCache() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (pool, domain) = try simulatedPool(scratch)
        let checker = Self.checker(pool, domain, seed: 26_2)
        try checker.run([(0, Self.fill("A", 100))], label: "R_old", lane: 0)
        // R_old is valid on the media. A recovery from that state, killed
        // at each of its fences (after its clear is stored, before its flush,
        // among them), is followed by another: when that one returns, the
        // media must hold no record (sequences restart at 1 after an open,
        // so R_old would replay after later acknowledged writes).
        let media = domain.media
        checker.thorough()
        checker.checkRecovery(cache: media, media: media, states: [checker.model], noRecord: nil, label: "R_old on the media", tally: \.duringRecovery, killable: true)
        #expect(checker.duringRecovery.images > 10)
        #expect(checker.duringRecovery.violations == 0, "\(checker.duringRecovery.first ?? "")")
    }

    @Test("msync: a record only in the page cache is made durable before recovery clears the other slot of its pair")
    func recordOnlyInPageCache() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (pool, domain) = try simulatedPool(scratch, lanes: 4, pageMode: true)
        let checker = Self.checker(pool, domain, seed: 26_3)
        // W1 in slot A, W2 (over part of W1) in slot B, acknowledged; W3 in
        // slot A again: the process dies at any of its fences.
        try checker.run([(0, Self.fill("1", 100))], label: "W1")
        try checker.run([(50, Self.fill("2", 100))], label: "W2")
        checker.thorough()
        try checker.run([(500, Self.fill("3", 10))], label: "W3")
        #expect(checker.processDeath.images > 20)
        #expect(checker.processDeath.violations == 0, "\(checker.processDeath.first ?? "")")
        #expect(checker.violations == 0, "\(checker.firstViolation ?? "")")
    }

    @Test("msync: a second fault during recovery never replays an older data record through a page-table entry recovery made")
    func secondFaultDuringRecovery() throws {
        let scratch = Scratch(on: "/dev/shm")
        let (pool, domain) = try simulatedPool(scratch, lanes: 4, pageMode: true)
        let checker = Self.checker(pool, domain, seed: 26_4)
        // W1 logged on chunk 0, then a remap of the whole chunk: a power cut
        // during the remap's sync can leave both records valid, and recovery
        // is then crashed at each of its fences.
        try checker.run([(0, Self.fill("1", 100))], label: "W1")
        // Power loss only, then power loss at every fence of recovery: the
        // second fault this scenario is about (the other tests kill processes).
        checker.recoveryCrashEvery = 1
        checker.nestedDeathEvery = .max
        try checker.run([(0, Self.fill("R", pool.layout.chunkSize))], label: "remap of chunk 0")
        #expect(checker.duringRecovery.images > 20)
        #expect(checker.duringRecovery.violations == 0, "\(checker.duringRecovery.first ?? "")")
        #expect(checker.violations == 0, "\(checker.firstViolation ?? "")")
    }
}

extension CrashChecker {
    /// From now on, every fence with every kind of crash.
    func thorough() {
        recoveryCrashEvery = 1
        processDeathEvery = 1
        nestedDeathEvery = 1
    }
}
