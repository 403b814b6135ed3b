import Foundation

/// The human-readable report on stdout: settings, one table per payload
/// size, the persist, open and thread results, and the targets last.
enum Report {
    static func print(_ results: Results, jsonPath: String, svgPath: String) {
        var out: [String] = []
        header(results, into: &out)
        for size in results.sizes { sizeTable(size, into: &out) }
        persist(results.persist, into: &out)
        opens(results.poolOpens, into: &out)
        threads(results.threads, into: &out)
        kernelAtomic(results.kernelAtomic, into: &out)
        if let scale = results.scale { out += scaleLines(scale) }
        out.append("results: \(jsonPath), chart: \(svgPath)")
        out.append("")
        targets(results.targets, into: &out)
        Swift.print(out.joined(separator: "\n"))
    }

    private static func header(_ results: Results, into out: inout [String]) {
        let s = results.settings
        out.append("pmem-compare  \(results.date)")
        out.append("machine   \(results.machine.uname), \(results.machine.cpus) CPUs\(results.machine.cpuModel.map { ", \($0)" } ?? "")")
        out.append("files     \(s.directory); PMEM2_FORCE_GRANULARITY=\(s.environment["PMEM2_FORCE_GRANULARITY"] ?? "?"), PMEM_IS_PMEM_FORCE=\(s.environment["PMEM_IS_PMEM_FORCE"] ?? "?")\(s.forced ? " (set by pmem-compare)" : "")")
        out.append("mapped    pool: \(s.poolGranularity) granularity\(s.poolWordPersistence.map { " (in-place words \($0), measured at open)" } ?? ""), raw libpmem2: \(s.rawGranularity)")
        out.append("pool      \(Workload.label(s.poolCapacity)) capacity, \(Workload.label(s.poolChunkSize)) chunks, \(Workload.label(s.poolSpareCapacity)) spare, \(s.poolLanes) lanes")
        out.append("method    \(s.method)")
        out.append("")
        out.append("Atomic writes. ns/op: median of \(s.repetitions) repetitions; GB/s: payload bytes per ns; x raw: ns / raw libpmem2 ns;")
        out.append("media B/B: the pool's bytes written (in place + log + applied + remap) per payload byte, over the measured writes (its own tally);")
        out.append("counted: a separate pass through a counting persistence routing (PersistenceCounter), msync path: fences (drains),")
        out.append("flush calls (flushes and flushing copies: one msync each) per commit, and cache lines flushed x 64 per payload byte.")
    }

    private static func sizeTable(_ size: SizeResult, into out: inout [String]) {
        out.append("")
        out.append("\(Workload.label(size.size)), \(size.iterations) writes per repetition")
        out.append("  \(pad("peer", 28))\(lpad("ns/op", 13))\(lpad("GB/s", 10))\(lpad("x raw", 9))\(lpad("media B/B", 11))")
        for peer in size.peers {
            let ratio = peer.ratioToRaw.map { fixed($0, 2) } ?? "-"
            let row = "  \(pad(peer.peer, 28))\(lpad(nanoseconds(peer.medianNsPerOp), 13))"
                + "\(lpad(fixed(peer.gigabytesPerSecond, 3), 10))\(lpad(ratio, 9))"
            guard peer.series == .pool else {
                out.append(row)
                continue
            }
            out.append(row + lpad(fixed(size.mediaBytesPerPayloadByte, 2), 11))
            if let speedups = poolSpeedups(size, pool: peer) { out.append("    pool speed-up (peer ns / pool ns): \(speedups)") }
            if let floor = size.peers.first(where: { $0.series == .floor }), floor.medianNsPerOp > 0 {
                out.append("    pool / floor: \(fixed(peer.medianNsPerOp / floor.medianNsPerOp, 2))x")
            }
            if let c = size.poolCounts { out.append("    counted (\(c.writes) writes, \(c.granularity)): \(counts(c))") }
        }
    }

    /// The pool against every non-raw peer at the same size.
    private static func poolSpeedups(_ size: SizeResult, pool: PeerResult) -> String? {
        let others = size.peers.filter { [.pmemobj, .pmemobjNT, .pmemblk].contains($0.series) }
        guard !others.isEmpty, pool.medianNsPerOp > 0 else { return nil }
        return others.map { "\(fixed($0.medianNsPerOp / pool.medianNsPerOp, 2))x vs \($0.peer)" }.joined(separator: ", ")
    }

    private static func persist(_ p: PersistResult, into out: inout [String]) {
        out.append("")
        out.append("Persist: 8-byte store at offset 64 + persist of 8 bytes, \(p.iterations) per repetition, median")
        out.append("  \(pad("Swift Mapping.store + persist", 36))\(lpad(nanoseconds(p.swiftMedianNsPerOp), 10)) ns/op  (\(p.swiftGranularity))")
        out.append("  \(pad("C loop, libpmem2 persist", 36))\(lpad(nanoseconds(p.cMedianNsPerOp), 10)) ns/op  (\(p.cGranularity))")
        out.append("  \(pad("Swift / C", 36))\(lpad(fixed(p.ratio, 3), 10))x")
    }

    private static func opens(_ opens: [OpenResult], into out: inout [String]) {
        out.append("")
        out.append("Pool open + recovery (2 MiB chunks, default spare), median of the opens")
        for o in opens {
            let file = lpad(Workload.label(o.fileBytes), 9), median = lpad(fixed(o.medianMilliseconds, 2), 8)
            out.append("  \(pad(Workload.label(o.capacity), 8)) file \(file)  created in \(fixed(o.createSeconds, 2)) s"
                + "  open \(median) ms  (\(o.recoveredCommits) commits recovered)")
        }
        if opens.allSatisfy({ $0.capacity < 1 << 30 }) { out.append("  (--quick: 1 GiB and 4 GiB skipped)") }
    }

    private static func threads(_ t: ThreadResult, into out: inout [String]) {
        out.append("")
        out.append("Threads: \(t.totalWrites) pool writes of \(t.writeBytes) B split across the threads, each in its own chunk")
        out.append("  1 thread   \(lpad(fixed(t.oneThreadOpsPerSecond, 0), 10)) writes/s")
        out.append("  2 threads  \(lpad(fixed(t.twoThreadOpsPerSecond, 0), 10)) writes/s   speed-up \(fixed(t.speedup, 2))x")
        out.append("  4 threads  \(lpad(fixed(t.fourThreadOpsPerSecond, 0), 10)) writes/s   speed-up \(fixed(t.fourThreadSpeedup, 2))x")
        out.append("")
    }

    /// "2.00 fences, 2.00 flush calls per commit, 2.50 media B/B".
    static func counts(_ c: CountedResult) -> String {
        "\(fixed(c.fencesPerCommit, 2)) fences, \(fixed(c.flushCallsPerCommit, 2)) flush (msync) calls per commit"
            + (c.cacheFlushFencesPerCommit.map { "; cache-flush path: \(fixed($0, 2)) fences, " } ?? ", ")
            + "\(fixed(c.mediaBytesPerPayloadByte, 2)) media B/B (lines x 64)"
    }

    /// The xfs stage's table alone (`--xfs-only`).
    static func scaleLines(_ scale: ScaleResult) -> [String] {
        var out = ["Scale: pools of 4 KiB chunks in files on \(scale.directory), \(Workload.label(scale.spareBytes)) spare, all open, in turns; medians",
                   "  chunks     create      open   open/chunk  RAM/chunk  256 B write  chunk remap  process mappings (before, after the remaps)"]
        for p in scale.pools {
            out.append("  \(pad(String(p.chunks), 9))\(lpad(fixed(p.createSeconds, 1), 6)) s\(lpad(fixed(p.openMedianMilliseconds, 1), 8)) ms"
                + "\(lpad(fixed(p.openNsPerChunk, 1), 9)) ns\(lpad(fixed(p.residentBytesPerChunk, 1), 9)) B"
                + "\(lpad(nanoseconds(p.write256MedianNs), 10)) ns\(lpad(nanoseconds(p.remapMedianNs), 10)) ns"
                + "  \(p.processMappingsBeforeRemaps), \(p.processMappingsAfterRemaps)")
        }
        for reason in scale.skipped { out.append("  skipped: \(reason)") }
        if let first = scale.pools.first {
            for p in scale.pools.dropFirst() {
                out.append("  \(p.chunks) over \(first.chunks) chunks: 256 B write \(fixed(p.write256MedianNs / first.write256MedianNs, 2))x, "
                    + "remap \(fixed(p.remapMedianNs / first.remapMedianNs, 2))x")
            }
        }
        out.append("")
        return out
    }

    static func targetLines(_ targets: [Target]) -> [String] {
        var out: [String] = []
        Self.targets(targets, into: &out)
        return out
    }

    static func kernelAtomicLines(_ k: KernelAtomicResult) -> [String] {
        var out: [String] = []
        kernelAtomic(k, into: &out)
        return out
    }

    private static func kernelAtomic(_ k: KernelAtomicResult, into out: inout [String]) {
        out.append("Kernel atomic writes: Pool.write against pwritev2(RWF_ATOMIC | RWF_DSYNC), O_DIRECT, on one loop-mounted xfs")
        if let reason = k.skipped {
            out.append("  skipped: \(reason)")
            out.append("")
            return
        }
        out.append("  \(k.setup)")
        out.append("  statx STATX_WRITE_ATOMIC: \(k.kernelAtomicWrite); pool: \(k.poolGranularity) granularity (msync path)")
        if !k.sizesOutsideLimits.isEmpty {
            out.append("  not run (outside the kernel's unit min..max): \(k.sizesOutsideLimits.map(Workload.label).joined(separator: ", "))")
        }
        out.append("  \(pad("payload", 10))\(lpad("writes", 7))\(lpad("Pool.write", 14))\(lpad("RWF_ATOMIC", 14))\(lpad("pool / kernel", 15))  counted")
        for s in k.sizes {
            let c = s.poolCounts.map { "\(fixed($0.fencesPerCommit, 2)) fences, \(fixed($0.flushCallsPerCommit, 2)) msync" } ?? "-"
            out.append("  \(pad(Workload.label(s.size), 10))\(lpad("\(s.iterations)", 7))\(lpad(microseconds(s.poolMedianNsPerOp), 14))"
                + "\(lpad(microseconds(s.kernelMedianNsPerOp), 14))\(lpad(fixed(s.poolOverKernel, 2) + "x", 15))  \(c)")
        }
        out.append("")
    }

    static func microseconds(_ ns: Double) -> String { "\(fixed(ns / 1000, 1)) µs" }

    private static func targets(_ targets: [Target], into out: inout [String]) {
        out.append("Targets (informational; the exit status does not depend on them)")
        for (i, t) in targets.enumerated() {
            if i == 0 || targets[i - 1].source != t.source { out.append("  \(t.source == Targets.earlier ? "earlier targets, not restated by issues 13 and 31" : t.source)") }
            let verdict = switch t.met {
            case true?: "MET"
            case false?: "MISSED"
            case nil: "NOT RUN"
            }
            let measured = t.measured.map { "\(fixed($0, 2)) \(t.unit)" } ?? "-"
            let limit = "\(t.atMost ? "<=" : ">=") \(fixed(t.limit, 2)) \(t.unit)"
            out.append("  \(pad(verdict, 8))\(pad(t.goal, 80))\(lpad(measured, 12))  (target \(limit))")
        }
    }

    // MARK: Formatting

    static func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// Enough digits to compare, none past the noise.
    static func nanoseconds(_ value: Double) -> String {
        fixed(value, value < 100 ? 1 : 0)
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    static func lpad(_ s: String, _ width: Int) -> String {
        s.count >= width ? " " + s : String(repeating: " ", count: width - s.count) + s
    }
}
