import Foundation

/// A hand-written SVG bar chart (no dependencies) of the median ns per write
/// at each payload size, one bar per kind of peer, on a log scale; white
/// background and 900x500 so it reads well inside a README on GitHub.
enum SVGChart {
    static func write(_ results: Results, to path: String) throws {
        try JSONOutput.writeFile(Data(render(results).utf8), to: path)
    }

    private static let width = 900.0, height = 520.0
    private static let left = 84.0, right = 880.0, top = 100.0, bottom = 420.0
    private static let ink = "#24292f", muted = "#57606a", grid = "#d0d7de"

    private static func color(_ series: Series) -> String {
        switch series {
        case .pool: "#1f6feb"
        case .floor: "#a5d8ff"
        case .raw: "#8c959f"
        case .pmemobj: "#e8590c"
        case .pmemobjNT: "#ffa94d"
        case .pmemblk: "#2f9e44"
        }
    }

    static func render(_ results: Results) -> String {
        let values = results.sizes.flatMap { $0.peers.map(\.medianNsPerOp) }.filter { $0 > 0 }
        let low = floor(log10(values.min() ?? 1))
        let high = max(ceil(log10(values.max() ?? 10)), low + 1)
        func y(_ ns: Double) -> Double { bottom - (log10(ns) - low) / (high - low) * (bottom - top) }

        var svg = [
            "<?xml version='1.0' encoding='UTF-8'?>",
            "<svg xmlns='http://www.w3.org/2000/svg' width='\(f(width))' height='\(f(height))' viewBox='0 0 \(f(width)) \(f(height))' font-family='Helvetica, Arial, sans-serif'>",
            "<rect width='100%' height='100%' fill='#ffffff'/>",
        ]
        svg += titles(results)

        var x = left
        for series in Series.allCases {
            svg.append("<rect x='\(f(x))' y='70' width='12' height='12' fill='\(color(series))'/>")
            svg.append(text(x + 17, 81, series.label, size: 12))
            x += 17 + Double(series.label.count) * 6.6 + 24
        }

        for e in Int(low)...Int(high) {
            let decade = pow(10, Double(e))
            svg.append(line(left, y(decade), right, y(decade), stroke: grid))
            svg.append(text(left - 8, y(decade) + 4, decadeLabel(e), size: 11, anchor: "end", fill: muted))
            if e < Int(high) {
                for m in [2.0, 5.0] {
                    svg.append(line(left, y(m * decade), right, y(m * decade), stroke: grid, dashed: true))
                }
            }
        }

        let groupWidth = (right - left) / Double(max(results.sizes.count, 1))
        let barWidth = groupWidth * 0.8 / Double(Series.allCases.count)
        for (g, size) in results.sizes.enumerated() {
            let groupLeft = left + Double(g) * groupWidth
            // A fixed slot per series, so colours line up across sizes.
            for (slot, series) in Series.allCases.enumerated() {
                guard let peer = size.peers.first(where: { $0.series == series }), peer.medianNsPerOp > 0 else { continue }
                let barTop = min(y(peer.medianNsPerOp), bottom - 1)
                let tooltip = "\(peer.peer), \(Workload.label(size.size)): \(Report.nanoseconds(peer.medianNsPerOp)) ns"
                svg.append("<rect x='\(f(groupLeft + groupWidth * 0.1 + Double(slot) * barWidth))' y='\(f(barTop))' width='\(f(barWidth - 2))' height='\(f(bottom - barTop))' fill='\(color(series))'><title>\(escape(tooltip))</title></rect>")
            }
            svg.append(text(groupLeft + groupWidth / 2, bottom + 18, Workload.label(size.size), size: 12, anchor: "middle"))
        }

        svg.append(line(left, bottom, right, bottom, stroke: ink))
        svg.append(line(left, top, left, bottom, stroke: ink))
        svg.append(text((left + right) / 2, bottom + 42, "payload of one atomic, durable write", size: 12, anchor: "middle"))
        svg.append("<text transform='translate(22 \(f((top + bottom) / 2))) rotate(-90)' font-size='12' text-anchor='middle' fill='\(ink)'>median ns per write (log scale)</text>")
        svg.append(text(right, height - 28, countedLine(results), size: 10, anchor: "end", fill: muted))
        svg.append(text(right, height - 12, "libpmemblk writes whole blocks only (512 B and 4 KiB). Repetitions interleaved across peers; data in compare.json.",
                        size: 10, anchor: "end", fill: muted))
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    /// The title and two lines of settings: when, where, how.
    private static func titles(_ results: Results) -> [String] {
        let s = results.settings
        let force = s.forced ? "forced by PMEM2_FORCE_GRANULARITY=\(s.environment["PMEM2_FORCE_GRANULARITY"] ?? "?"), PMEM_IS_PMEM_FORCE=1" : "not forced"
        let when = "\(results.date) · \(s.directory) · median of \(s.repetitions) repetitions\(s.quick ? " (--quick)" : "")"
            + " · \(results.machine.cpus) CPUs, \(results.machine.kernelRelease)"
        let how = "store granularity: pool \(s.poolGranularity), libpmem2 \(s.rawGranularity) (\(force)) · pool chunks \(Workload.label(s.poolChunkSize))"
        return [
            text(20, 28, "swift-pmem atomic writes vs raw libpmem2 and PMDK: time per write (lower is better)", size: 16, weight: "bold"),
            text(20, 47, when, size: 11, fill: muted),
            text(20, 62, how, size: 11, fill: muted),
        ]
    }

    /// The counted calls per commit and the xfs comparison, in one line.
    private static func countedLine(_ results: Results) -> String {
        let counted = [64, 4096].compactMap { size in
            results.sizes.first { $0.size == size }?.poolCounts.map {
                "\(Workload.label(size)) \(Report.fixed($0.fencesPerCommit, 0)) fences + \(Report.fixed($0.flushCallsPerCommit, 0)) msync"
            }
        }.joined(separator: ", ")
        let k = results.kernelAtomic
        let xfs = k.skipped.map { "xfs RWF_ATOMIC stage skipped: \($0)" }
            ?? "xfs, pool / RWF_ATOMIC|RWF_DSYNC: " + k.sizes.map { "\(Workload.label($0.size)) \(Report.fixed($0.poolOverKernel, 2))x" }.joined(separator: ", ")
        return "Pool.write per commit (counted): \(counted) · \(xfs)"
    }

    /// 10^e nanoseconds as "100 ns", "1 µs", "10 ms".
    private static func decadeLabel(_ e: Int) -> String {
        for (shift, unit) in [(9, "s"), (6, "ms"), (3, "µs"), (0, "ns")] where e >= shift {
            return "\(Int(pow(10, Double(e - shift)))) \(unit)"
        }
        return "1e\(e) ns"
    }

    private static func text(_ x: Double, _ y: Double, _ content: String, size: Int, anchor: String = "start",
                             weight: String = "normal", fill: String = ink) -> String {
        "<text x='\(f(x))' y='\(f(y))' font-size='\(size)' font-weight='\(weight)' text-anchor='\(anchor)' fill='\(fill)'>\(escape(content))</text>"
    }

    private static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, dashed: Bool = false) -> String {
        "<line x1='\(f(x1))' y1='\(f(y1))' x2='\(f(x2))' y2='\(f(y2))' stroke='\(stroke)' stroke-width='1'\(dashed ? " stroke-dasharray='3 3'" : "")/>"
    }

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&apos;")
    }
}
