import Foundation
import Glibc
@testable import PMemSystem
@testable import PMemMapping
@testable import PMemPool
@testable import PMemCrashTesting
import CMallocCounter

/// What one kind of crash check counted.
package struct CrashTally {
    package var images = 0
    package var violations = 0
    package var first: String?
    /// Hashes of the distinct images among those checked (where counted).
    package var states = Set<UInt64>()

    package init() {}

    package mutating func record(_ problem: String?, _ label: @autoclosure () -> String) {
        images += 1
        guard let problem else { return }
        violations += 1
        if first == nil { first = "\(label()): \(problem)" }
    }

    package static func += (lhs: inout CrashTally, rhs: CrashTally) {
        lhs.images += rhs.images
        lhs.violations += rhs.violations
        lhs.states.formUnion(rhs.states)
        if lhs.first == nil { lhs.first = rhs.first }
    }
}

/// Runs pool operations under the simulated persistence domain and checks
/// crash images with an oracle: recovery (the same code as Pool.open) must
/// succeed with intact metadata, and the logical contents must be exactly
/// the state before the operation in flight or exactly the state after it;
/// once an operation has returned, exactly after.
///
/// Three kinds of crash (DESIGN, "The persistence model"):
/// - **power loss**: at every fence, images of what the media may hold;
/// - **process death**: the cache (or page cache) keeps every store, the
///   media only what was made durable (and whatever was evicted); recovery
///   runs on the cache with its own calls routed to a simulated domain whose
///   media is the dead process's, and power may fail at any of its fences;
///   when it returns, the media must recover to exactly what it left and
///   hold no record that a later open could replay;
/// - **during recovery**: a recovery from a power-loss image is stopped at
///   each of its fences (power loss), and recoveries are killed at their
///   fences (a process death during recovery) and recovered again.
package final class CrashChecker {
    package let pool: Pool
    package let domain: SimulatedPersistenceDomain
    package let layout: PoolLayout
    /// Whether the pool runs its msync paths (the domain's calls declared page ones):
    /// recoveries checked here are routed the same way.
    package let pageMode: Bool
    package var generator: SeededGenerator
    package let mixes: Int
    /// Structured crash images per kind at each fence (SimulatedPersistenceDomain).
    package var structured = 4
    package var model: [UInt8]
    /// Power-loss images of the workload.
    package var powerLoss = CrashTally()
    /// Images after a process death (at a fence of the workload, or at an
    /// acknowledgement): power failing during or after the recovery that follows.
    package var processDeath = CrashTally()
    /// Images of a second fault during a recovery: power loss at a fence of
    /// a recovery from a power-loss image, and process deaths during any
    /// recovery followed by another.
    package var duringRecovery = CrashTally()
    /// The power-loss images taken at fences of homing commits (a remap
    /// with no new bytes, made inside an operation to make room), counted
    /// in ``powerLoss`` too.
    package var homing = CrashTally()
    /// Operations refused as larger than the pool's largest atomic write.
    package var refused = 0
    /// One power-loss image in this many also gets a crash at every fence of its recovery.
    package var recoveryCrashEvery = 8
    /// One moment of the workload in this many (a fence, a flush, an
    /// acknowledgement) also gets a process death (0: none).
    package var processDeathEvery = 1
    /// One recovery after a process death in this many is itself killed at each of its fences.
    package var nestedDeathEvery = 8
    /// Whether checking stops at the first violation (the operations still
    /// run): a mutation needs one to be caught, not all of them counted.
    package var stopsAtFirstViolation = false
    private var stopped: Bool { stopsAtFirstViolation && violations > 0 }
    private var momentsSeen = 0
    private var recoveriesRun = 0

    package static let heapForImages: Void = malloc_counter_keep_on_heap(32 << 20)

    package var imagesChecked: Int { powerLoss.images + processDeath.images + duringRecovery.images }
    package var violations: Int { powerLoss.violations + processDeath.violations + duringRecovery.violations }
    package var firstViolation: String? { powerLoss.first ?? processDeath.first ?? duringRecovery.first }

    package init(pool: Pool, domain: SimulatedPersistenceDomain, seed: UInt64, mixes: Int) {
        // Crash images are pool-sized arrays made and dropped by the million:
        // from the heap, not an mmap and munmap each (most of the run's time).
        _ = Self.heapForImages
        self.pool = pool
        self.domain = domain
        self.layout = pool.layout
        self.pageMode = !pool.persistence.flushesLines
        self.generator = SeededGenerator(state: seed)
        self.mixes = mixes
        self.model = Array(UnsafeRawBufferPointer(start: pool.view, count: pool.capacity))
    }

    /// Applies `writes` to the pool as one operation, checking crash images
    /// at every fence and at the acknowledgement. With `storeAndPersist`,
    /// the single write is made with `Pool.store` of each byte and one
    /// `Pool.persist` (the path that leaves no record). `lane` forces the
    /// lane of a commit that has no live record to overwrite.
    package func run(_ writes: [(offset: Int, bytes: [UInt8])], label: String, storeAndPersist: Bool = false, lane: Int? = nil) throws(PMemError) {
        let before = model
        var after = model
        for w in writes { after.replaceSubrange(w.offset..<(w.offset + w.bytes.count), with: w.bytes) }
        // The bytes of a write that leaves no record (in place, or store +
        // persist): with cache-line flushes, an open after a process death may
        // show them while the media does not hold them yet (docs/FORMAT.md).
        let single = writes.count == 1 ? writes[0] : nil
        let noRecord = single.flatMap { w -> Range<Int>? in
            let inPlace = w.bytes.count <= 8 && w.offset / 8 == (w.offset + w.bytes.count - 1) / 8
            return storeAndPersist || inPlace ? w.offset..<(w.offset + w.bytes.count) : nil
        }
        domain.beforeFence = { [unowned self] domain in
            guard !stopped else { return }
            let homing = pool.homingsRunning.load(ordering: .relaxed) > 0
            let where_ = "\(label), crash at fence \(domain.fences)\(homing ? " of a homing" : "")"
            let (images, violations) = (powerLoss.images, powerLoss.violations)
            for (image, state) in domain.crashStates(mixes: mixes, structured: structured, using: &generator) {
                powerLoss.states.insert(state)
                check(image, against: [before, after], label: where_)
            }
            if homing {
                self.homing.images += powerLoss.images - images
                self.homing.violations += powerLoss.violations - violations
                if self.homing.first == nil, powerLoss.violations > violations { self.homing.first = powerLoss.first }
            }
            checkProcessDeath(domain, against: [before, after], noRecord: noRecord, label: where_)
        }
        // And between fences: a process death just before each flush (after
        // a kill and before the record that follows it, say).
        domain.beforeFlush = { [unowned self] domain in
            guard !stopped else { return }
            checkProcessDeath(domain, against: [before, after], noRecord: noRecord, label: "\(label), before a flush after fence \(domain.fences)")
        }
        defer { domain.beforeFence = nil; domain.beforeFlush = nil }
        let outcome = Pool.$forcedLane.withValue(lane) {
            Result { () throws(PMemError) in
                if storeAndPersist, let w = writes.first {
                    for (i, byte) in w.bytes.enumerated() { try pool.storeUncommitted(byte, at: w.offset + i) }
                    try pool.persist(w.offset..<(w.offset + w.bytes.count))
                } else {
                    try pool.commit(writes)
                }
            }
        }
        do {
            try outcome.get()
        } catch {
            guard error.code == .updateTooLarge else { throw error }
            // Refused: it must have changed nothing, durable or not.
            domain.beforeFence = nil
            domain.beforeFlush = nil
            refused += 1
            check(domain.working, against: [before], label: "\(label), refused as too large")
            return
        }
        domain.beforeFence = nil
        domain.beforeFlush = nil
        guard !stopped else {
            model = after
            return
        }
        // At the acknowledgement: what is durable, and every crash image of
        // the lines still in flight (a missing last fence shows here).
        check(domain.media, against: [after], label: "\(label), acknowledged")
        for (image, state) in domain.crashStates(mixes: mixes / 4, using: &generator) {
            powerLoss.states.insert(state)
            check(image, against: [after], label: "\(label), crash at the acknowledgement")
        }
        checkProcessDeath(domain, against: [after], noRecord: nil, label: "\(label), process death at the acknowledgement")
        model = after
    }

    /// Closes the pool, checking the crash images at each fence of the
    /// close; then the media, read through its page table without any
    /// replay, must hold the contents: a cleanly closed pool needs no
    /// recovery (an open that cannot write, for one, could not replay).
    package func close() {
        domain.beforeFence = { [unowned self] domain in
            for (image, state) in domain.crashStates(mixes: mixes, using: &generator) {
                powerLoss.states.insert(state)
                check(image, against: [model], label: "close, crash at fence \(domain.fences)")
            }
        }
        pool.close()
        domain.beforeFence = nil
        var media = domain.media
        let problem: String? = media.withUnsafeMutableBytes { b in
            guard let got = try? contents(b.baseAddress!) else { return "page table unreadable after a close" }
            return got == model ? nil : "after a clean close the media holds other contents than the pool's without a replay"
        }
        powerLoss.record(problem, "after the close")
    }

    /// A power-loss image: recovered, compared; one in `recoveryCrashEvery`
    /// also crashes at every fence of its recovery.
    package func check(_ image: [UInt8], against states: [[UInt8]], label: String) {
        var copy = image
        let problem = copy.withUnsafeMutableBytes { recoverAndCompare($0.baseAddress!, states) }
        if problem != nil, powerLoss.first == nil, ProcessInfo.processInfo.environment["SWIFT_PMEM_CRASH_DEBUG"] != nil { describe(image) }
        powerLoss.record(problem, label)
        if problem == nil, powerLoss.images % recoveryCrashEvery == 0 {
            checkRecovery(cache: image, media: image, states: states, noRecord: nil, label: "\(label), crash during recovery",
                          tally: \.duringRecovery, killable: true)
        }
    }

    /// A process death at this moment of `domain`: the next opener reads
    /// the cache (every store made), the media holds what was made durable,
    /// and, in a second variant, some lines the cache evicted or flushed.
    package func checkProcessDeath(_ domain: SimulatedPersistenceDomain, against states: [[UInt8]], noRecord: Range<Int>?, label: String) {
        guard processDeathEvery > 0 else { return }
        momentsSeen += 1
        guard momentsSeen % processDeathEvery == 0 else { return }
        let cache = domain.working
        // crashImages: [media, working, mixes...]; every image but the
        // working one is a media a process death can leave.
        let images = domain.crashImages(mixes: 1, using: &generator)
        var variants = [images[0]]
        if images.count > 2 { variants.append(images[Int.random(in: 2..<images.count, using: &generator)]) }
        for media in variants {
            checkRecovery(cache: cache, media: media, states: states, noRecord: noRecord, label: "\(label), process death",
                          tally: \.processDeath, killable: true)
        }
    }

    /// Recovery on `cache` over durable `media`, routed to a simulated
    /// domain as the pool's calls are (line or page ones). At each of its
    /// fences every crash image is recovered again (power loss), and, for
    /// one `killable` recovery in `nestedDeathEvery`, the recovery is also
    /// killed there (a process death during recovery: its cache and media
    /// are recovered the same way, once more). When it returns, what it
    /// left in memory must be one of `states`, and the media must hold no
    /// lane header (no record a later open could replay over later writes)
    /// and recover to exactly the same contents, but, with cache-line
    /// flushes, for the `noRecord` bytes of a write that leaves no record.
    package func checkRecovery(cache: [UInt8], media: [UInt8], states: [[UInt8]], noRecord: Range<Int>?, label: String,
                       tally: ReferenceWritableKeyPath<CrashChecker, CrashTally>, killable: Bool) {
        var nested = false
        if killable { recoveriesRun += 1; nested = recoveriesRun % nestedDeathEvery == 0 }
        var working = cache
        let inner = SimulatedPersistenceDomain()
        var local = CrashTally()
        var deaths: [(cache: [UInt8], media: [UInt8], fence: Int)] = []
        let outcome: String? = working.withUnsafeMutableBytes { buffer in
            inner.attach(base: buffer.baseAddress!, size: buffer.count, media: media)
            inner.beforeFence = { [unowned self] d in
                for image in d.crashImages(mixes: 2, using: &generator) {
                    var copy = image
                    local.record(copy.withUnsafeMutableBytes { recoverAndCompare($0.baseAddress!, states) },
                                 "\(label), power loss at fence \(d.fences + 1) of recovery")
                }
                if nested { deaths.append((d.working, d.media, d.fences + 1)) }
            }
            do {
                _ = try Pool.recover(buffer.baseAddress!, layout: layout, persistence: pageMode ? inner.pageCalls : inner.calls, path: nil)
            } catch {
                return "recovery failed: \(error)"
            }
            inner.beforeFence = nil
            return contentsProblem(buffer.baseAddress!, states)
        }
        local.record(outcome, "\(label), recovery's own result")
        if outcome == nil {
            local.record(finishedMediaProblem(inner.media, expected: working, states: states, noRecord: noRecord),
                         "\(label), power loss after recovery returned")
        }
        self[keyPath: tally] += local
        for death in deaths {
            checkRecovery(cache: death.cache, media: death.media, states: states, noRecord: noRecord,
                          label: "\(label), process death at fence \(death.fence) of recovery", tally: \.duringRecovery, killable: false)
        }
    }

    /// nil if `media`, what a finished recovery left durable, holds no lane
    /// header and recovers to one of `states` and to exactly the contents of
    /// `expected`, what recovery left in memory (with cache-line flushes,
    /// but for the `noRecord` bytes).
    package func finishedMediaProblem(_ media: [UInt8], expected: [UInt8], states: [[UInt8]], noRecord: Range<Int>?) -> String? {
        var copy = media
        return copy.withUnsafeMutableBytes { b -> String? in
            let base = b.baseAddress!
            for lane in 0..<layout.laneCount
            where UnsafeRawBufferPointer(start: base + layout.laneOffset(lane), count: CommitRecord.headerSize).contains(where: { $0 != 0 }) {
                let valid = CommitRecord.decode(base + layout.laneOffset(lane), maxBody: layout.laneSize - CommitRecord.headerSize) != nil
                return "lane \(lane) still holds \(valid ? "a valid record" : "a record's remnant") on the media after recovery returned"
            }
            let recovered = Pool.$siteRecorder.withValue(nil) {
                Pool.$droppedSite.withValue(nil) { Result { () throws(PMemError) in try Pool.recover(base, layout: layout, persistence: .none, path: nil) } }
            }
            if case .failure(let error) = recovered { return "recovery of the media failed: \(error)" }
            if let problem = contentsProblem(base, states) { return problem }
            // Where a flush is an msync, the open syncs the whole file: what
            // it shows is durable. With cache-line flushes a dead process's
            // unfinished write that leaves no record may be shown and still
            // be lost (docs/FORMAT.md): everything else must be durable.
            var reference = expected
            guard var want = reference.withUnsafeMutableBytes({ try? contents($0.baseAddress!) }),
                  var got = try? contents(base) else { return "page table unreadable" }
            if !pageMode, let noRecord {
                want.replaceSubrange(noRecord, with: repeatElement(0, count: noRecord.count))
                got.replaceSubrange(noRecord, with: repeatElement(0, count: noRecord.count))
            }
            return got == want ? nil : "the media recovers to other contents than recovery left in memory"
        }
    }

    /// Prints the valid records of an image (for debugging a violation).
    package func describe(_ image: [UInt8]) {
        var copy = image
        copy.withUnsafeMutableBytes { b in
            for lane in 0..<layout.laneCount {
                let record = b.baseAddress! + layout.laneOffset(lane)
                let seq = record.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                guard let head = CommitRecord.decode(record, maxBody: layout.laneSize - 64),
                      let entries = LogEntry.decodeBody(UnsafeRawBufferPointer(start: record + 64, count: head.bodyLength), count: head.entryCount, layout: layout) else {
                    print("lane \(lane): no valid record (sequence word \(seq))"); continue
                }
                print("lane \(lane): sequence \(head.sequence): " + entries.map { e in
                    switch e { case .data(let o, let bytes): "data \(bytes.count) at \(o)"; case .pageTable(let l, let p): "PT[\(l)] = \(p)" }
                }.joined(separator: ", "))
            }
        }
    }

    /// The logical contents of a recovered image, read through its page table.
    package func contents(_ base: UnsafeMutableRawPointer) throws(PMemError) -> [UInt8] {
        let table = try Pool.readPageTable(base, layout: layout, path: nil)
        let chunk = layout.chunkSize
        var contents = [UInt8](repeating: 0, count: layout.capacity)
        contents.withUnsafeMutableBytes { c in
            for (l, p) in table.enumerated() { _ = memcpy(c.baseAddress! + l * chunk, base + layout.chunkOffset(p), chunk) }
        }
        return contents
    }

    /// nil if recovery succeeds and the contents equal one of `states`.
    package func recoverAndCompare(_ base: UnsafeMutableRawPointer, _ states: [[UInt8]]) -> String? {
        // The oracle's recovery persists nothing: not the code whose sites a test leaves out.
        Pool.$siteRecorder.withValue(nil) { Pool.$droppedSite.withValue(nil) { oracleRecoverAndCompare(base, states) } }
    }

    private func oracleRecoverAndCompare(_ base: UnsafeMutableRawPointer, _ states: [[UInt8]]) -> String? {
        do {
            _ = try PoolLayout.decode(UnsafeRawBufferPointer(start: base, count: PoolLayout.headerSize), fileSize: layout.fileSize, path: nil)
            _ = try Pool.recover(base, layout: layout, persistence: .none, path: nil)
        } catch {
            return "recovery failed: \(error)"
        }
        return contentsProblem(base, states)
    }

    /// nil if every lane of a recovered image is idle and its contents equal one of `states`.
    package func contentsProblem(_ base: UnsafeMutableRawPointer, _ states: [[UInt8]]) -> String? {
        for lane in 0..<layout.laneCount
        where UnsafeRawBufferPointer(start: base + layout.laneOffset(lane), count: CommitRecord.headerSize).contains(where: { $0 != 0 }) {
            return "lane \(lane) is not idle after recovery"
        }
        let table: [Int]
        do { table = try Pool.readPageTable(base, layout: layout, path: nil) } catch { return "page table: \(error)" }
        let chunk = layout.chunkSize
        let matches = states.contains { state in
            state.withUnsafeBytes { s in
                table.enumerated().allSatisfy { l, p in memcmp(base + layout.chunkOffset(p), s.baseAddress! + l * chunk, chunk) == 0 }
            }
        }
        if matches { return nil }
        // Say where: the first byte that differs from each state.
        guard let contents = try? contents(base) else { return "page table unreadable" }
        let firsts = states.map { state in
            (0..<state.count).first { contents[$0] != state[$0] }.map { "byte \($0) is \(contents[$0]), not \(state[$0])" } ?? "equal"
        }
        return "the contents are neither the state before nor the state after (\(firsts.joined(separator: "; ")))"
    }
}
