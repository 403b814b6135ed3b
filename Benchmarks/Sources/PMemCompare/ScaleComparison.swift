import Glibc
import PMem
import SystemPackage

/// Pools of 32 Ki, 512 Ki and 4 Mi chunks of 4 KiB (a 64 GiB, a 1 TiB and an
/// 8 TiB pool's chunk counts at 2 MiB), each in a file on `directory` (a
/// disk: the largest file is 16 GiB) with a 64 MiB spare, all open at once:
/// the open's time and memory per chunk, a 256 B write and a chunk remap.
/// Like the peers of the size sweep, the pools take turns, round by round,
/// each round starting with another, so that drift hits them alike. The
/// writes go to the same offsets in every pool (chunks among the first
/// 32 Ki), and the remaps follow the same 500 remaps, so that every pool's
/// view holds the same mappings: what differs is the chunk count.
enum ScaleComparison {
    static let chunkSize = 4096
    static let spare = 64 << 20
    /// Chunks remapped before the timed remaps: about a thousand view mappings.
    static let settledRemaps = 500
    static let timedRemaps = 100
    static let writeOffsets = 64
    static let writesPerRound = 256

    static func chunkCounts(quick: Bool) -> [Int] {
        quick ? [32_768, 524_288] : [32_768, 524_288, 4_194_304]
    }

    static func measure(directory: String, repetitions: Int, quick: Bool) throws -> ScaleResult {
        var result = ScaleResult(directory: directory, chunkSize: chunkSize, spareBytes: spare, pools: [], skipped: [])
        let scratch = Scratch(directory: directory)
        defer { scratch.removeAll() }
        var counts: [Int] = [], paths: [String] = [], created: [Double] = []
        var room = freeBytes(directory) - (1 << 30)
        for chunks in chunkCounts(quick: quick) {
            let needed = chunks * chunkSize + spare
            guard room >= needed else {
                result.skipped.append("\(chunks) chunks: \(directory) has less than \(Workload.label(needed + (1 << 30))) free")
                continue
            }
            room -= needed
            Console.progress("scale: creating a pool of \(chunks) chunks of 4 KiB in \(directory)")
            let path = scratch.path("scale-\(chunks)")
            let start = Timing.now()
            do { _ = try Pool.create(at: FilePath(path), capacity: chunks * chunkSize, chunkSize: chunkSize, spareCapacity: spare) }
            created.append(Double(Timing.now() - start) / 1e9)
            counts.append(chunks)
            paths.append(path)
        }
        guard !counts.isEmpty else { return result }

        Console.progress("scale: opening each \(repetitions) times, in turns")
        var pools = [Pool?](repeating: nil, count: counts.count)
        // Over each pool's first open, while none has been closed: later
        // opens reuse what the close before them freed.
        var resident = [Int?](repeating: nil, count: counts.count)
        let opens = try Timing.interleaved(counts.indices.map { i in
            Contender(name: "\(counts[i])") {
                pools[i] = nil // closed before the next open
                let before = residentPages()
                let start = Timing.now()
                pools[i] = try Pool.open(at: FilePath(paths[i]))
                let elapsed = Timing.now() - start
                if resident[i] == nil { resident[i] = (residentPages() - before) * Int(getpagesize()) }
                return elapsed
            }
        }, repetitions: repetitions)

        // The same chunks in every pool: among the first 32 Ki, from one seed.
        var g = ScaleRandom(state: 0x5CA1E)
        var candidates = Array(0..<32_768)
        for i in stride(from: candidates.count - 1, to: 0, by: -1) { candidates.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        let writeChunks = Array(candidates.prefix(writeOffsets))
        let settled = candidates.dropFirst(writeOffsets).prefix(settledRemaps)
        let timed = Array(candidates.dropFirst(writeOffsets + settledRemaps).prefix(timedRemaps * (repetitions + 1)))

        Console.progress("scale: 256 B writes")
        let small = [UInt8](repeating: 0x5A, count: 256)
        let writes = counts.indices.map { i in
            Contender(name: "\(counts[i])") {
                let pool = pools[i]!
                let start = Timing.now()
                for k in 0..<writesPerRound { try pool.write(small, at: writeChunks[k % writeOffsets] * chunkSize + 512) }
                return Timing.now() - start
            }
        }
        try Timing.warmUp(writes)
        let writeSamples = try Timing.interleaved(writes, repetitions: repetitions)

        Console.progress("scale: chunk remaps")
        let whole = [UInt8](repeating: 0xA5, count: chunkSize)
        for pool in pools { for c in settled { try pool!.write(whole, at: c * chunkSize) } }
        let mappingsBefore = processMappings()
        var round = [Int](repeating: 0, count: counts.count)
        let remaps = counts.indices.map { i in
            Contender(name: "\(counts[i])") {
                let pool = pools[i]!
                let chunks = timed[(round[i] * timedRemaps)..<((round[i] + 1) * timedRemaps)]
                round[i] += 1
                let start = Timing.now()
                for c in chunks { try pool.write(whole, at: c * chunkSize) }
                return Timing.now() - start
            }
        }
        try Timing.warmUp(remaps)
        let remapSamples = try Timing.interleaved(remaps, repetitions: repetitions)
        let mappingsAfter = processMappings()

        for i in counts.indices {
            let openMs = opens[i].map { Double($0) / 1e6 }
            let writeNs = writeSamples[i].map { Double($0) / Double(writesPerRound) }
            let remapNs = remapSamples[i].map { Double($0) / Double(timedRemaps) }
            let statistics = pools[i]!.statistics
            result.pools.append(ScalePoolResult(
                chunks: counts[i], createSeconds: created[i], openRepetitionMilliseconds: openMs,
                openMedianMilliseconds: Timing.median(openMs), openNsPerChunk: Timing.median(openMs) * 1e6 / Double(counts[i]),
                residentBytesPerChunk: Double(resident[i] ?? 0) / Double(counts[i]),
                write256RepetitionNs: writeNs, write256MedianNs: Timing.median(writeNs),
                remapRepetitionNs: remapNs, remapMedianNs: Timing.median(remapNs),
                processMappingsBeforeRemaps: mappingsBefore, processMappingsAfterRemaps: mappingsAfter,
                remaps: statistics.remaps, homings: statistics.homings))
        }
        return result
    }

    private static func freeBytes(_ directory: String) -> Int {
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else { return 0 }
        return Int(fs.f_bavail) * Int(fs.f_frsize)
    }

    /// Resident pages of this process (/proc/self/statm, the second field).
    private static func residentPages() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        guard fgets(&line, 256, file) != nil else { return 0 }
        let fields = String(cString: line).split(separator: " ")
        return fields.count >= 2 ? Int(fields[1]) ?? 0 : 0
    }

    /// The mappings of this process (lines of /proc/self/maps).
    private static func processMappings() -> Int {
        guard let file = fopen("/proc/self/maps", "r") else { return 0 }
        defer { fclose(file) }
        var count = 0
        while true {
            let c = getc(file)
            if c == EOF { break }
            if c == 10 { count += 1 }
        }
        return count
    }
}

/// A small deterministic generator (splitmix64): the same chunks in every run.
struct ScaleRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The scale section: one entry per pool size that ran.
struct ScaleResult: Codable {
    var directory: String
    var chunkSize: Int
    var spareBytes: Int
    var pools: [ScalePoolResult]
    /// Sizes left out, and why (the disk's room).
    var skipped: [String]

    func pool(_ chunks: Int) -> ScalePoolResult? { pools.first { $0.chunks == chunks } }
}

struct ScalePoolResult: Codable {
    var chunks: Int
    var createSeconds: Double
    var openRepetitionMilliseconds: [Double]
    var openMedianMilliseconds: Double
    var openNsPerChunk: Double
    /// The growth of the process's resident memory over its first open.
    var residentBytesPerChunk: Double
    var write256RepetitionNs: [Double]
    var write256MedianNs: Double
    var remapRepetitionNs: [Double]
    var remapMedianNs: Double
    /// The process's mappings (every pool's view) around the timed remaps.
    var processMappingsBeforeRemaps: Int
    var processMappingsAfterRemaps: Int
    var remaps: Int
    var homings: Int
}
