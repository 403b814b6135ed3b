// pmem-compare: swift-pmem's atomic writes against raw libpmem2, libpmemobj
// transactions and libpmemblk blocks on one file system and one granularity
// setting; plus the Swift wrapper's persist against C, pool open time and
// two-thread scaling. Prints a table, writes JSON and an SVG chart, and
// checks the targets (see Options.usage).
import Foundation
import PMem

runPMemCompare()

/// Everything in a function, so that no state is global.
func runPMemCompare() {
    let options = parseCommandLine()
    if options.force {
        // libpmem2 reads the first at every mapping, libpmem the second on
        // first use: both are set before any peer or pool maps a file.
        setenv("PMEM2_FORCE_GRANULARITY", options.granularity.uppercased(), 1)
        setenv("PMEM_IS_PMEM_FORCE", "1", 1)
        if options.granularity == "byte" { setenv("PMEM_NO_FLUSH", "1", 1) }
    }
    if let size = options.loopSize {
        let scratch = Scratch(directory: options.directory)
        defer { scratch.removeAll() }
        do { try PoolLoop.run(size: size, scratch: scratch) } catch {
            Console.progress("pmem-compare: \(error)")
            exit(1)
        }
        return
    }
    if options.scaleOnly {
        do {
            let date = ISO8601DateFormatter().string(from: Date())
            let scale = try ScaleComparison.measure(directory: options.scaleDirectory, repetitions: options.repetitions, quick: options.quick)
            let run = ScaleRun(date: date, machine: MachineInfo.current(), repetitions: options.repetitions, scale: scale,
                               targets: Targets.scale(scale))
            print(Report.scaleLines(scale).joined(separator: "\n"))
            print(Report.targetLines(run.targets).joined(separator: "\n"))
            let path = options.explicitJSONPath ?? "Benchmarks/results/scale.json"
            try JSONOutput.write(run, to: path)
            print("results: \(path)")
        } catch {
            Console.progress("pmem-compare: \(error)")
            exit(1)
        }
        return
    }
    if options.xfsOnly {
        let kernelAtomic = KernelAtomicComparison.measure(repetitions: options.repetitions, quick: options.quick, enabled: true)
        print(Report.kernelAtomicLines(kernelAtomic).joined(separator: "\n"))
        return
    }
    var results = measureOrExit(options, scratch: Scratch(directory: options.directory))
    results.targets = Targets.evaluate(results)
    Report.print(results, jsonPath: options.jsonPath, svgPath: options.svgPath)
    do {
        try JSONOutput.write(results, to: options.jsonPath)
        try SVGChart.write(results, to: options.svgPath)
    } catch {
        Console.progress("pmem-compare: writing the results: \(error)")
        exit(1)
    }
}

/// The options, or exit: 0 after --help, 2 with the usage on a bad option.
func parseCommandLine() -> Options {
    do {
        if let options = try Options.parse(Array(CommandLine.arguments.dropFirst())) { return options }
        print(Options.usage)
        exit(0)
    } catch {
        Console.progress("pmem-compare: \(error)\n\n\(Options.usage)")
        exit(2)
    }
}

/// Runs every stage; on any failure removes the scratch files and exits 1.
func measureOrExit(_ options: Options, scratch: Scratch) -> Results {
    do {
        let results = try measure(options, scratch: scratch)
        scratch.removeAll()
        return results
    } catch {
        scratch.removeAll()
        Console.progress("pmem-compare: \(error)")
        exit(1)
    }
}

func measure(_ options: Options, scratch: Scratch) throws -> Results {
    let date = ISO8601DateFormatter().string(from: Date())
    var writes = try measureWrites(options, scratch: scratch)
    let counted = try CountedPass.measure(scratch: scratch, quick: options.quick)
    for i in writes.sizes.indices { writes.sizes[i].poolCounts = counted[writes.sizes[i].size] }
    let persist = try PersistComparison.measure(scratch: scratch, repetitions: options.repetitions, quick: options.quick)
    let opens = try PoolOpenTiming.measure(scratch: scratch, repetitions: options.repetitions, quick: options.quick)
    let scale = options.scale
        ? try ScaleComparison.measure(directory: options.scaleDirectory, repetitions: options.repetitions, quick: options.quick) : nil
    // Last: it lifts PMEM2_FORCE_GRANULARITY for its pool (the msync path).
    let kernelAtomic = KernelAtomicComparison.measure(repetitions: options.repetitions, quick: options.quick, enabled: options.xfs)
    if let reason = kernelAtomic.skipped { Console.progress("xfs stage skipped: \(reason)") }
    let settings = Settings(
        directory: options.directory, repetitions: options.repetitions, quick: options.quick, forced: options.force,
        environment: Dictionary(uniqueKeysWithValues: ["PMEM2_FORCE_GRANULARITY", "PMEM_IS_PMEM_FORCE", "PMEM_NO_FLUSH"].map { ($0, environmentValue($0)) }),
        poolGranularity: writes.poolGranularity, poolWordPersistence: writes.poolWords, rawGranularity: writes.rawGranularity,
        poolCapacity: Workload.regionSize, poolChunkSize: Workload.chunkSize, poolSpareCapacity: Workload.spareCapacity,
        poolLanes: Workload.poolLanes, offsetSlots: Workload.offsetSlots,
        method: "per size, each peer warmed up once, then \(options.repetitions) rounds that run every peer once, "
            + "starting with a different peer each round; medians reported; write i goes to slot i mod \(Workload.offsetSlots) "
            + "of the write's size (at least 64 B) in a \(Workload.label(Workload.regionSize)) region; CLOCK_MONOTONIC")
    return Results(date: date, machine: MachineInfo.current(), settings: settings, sizes: writes.sizes,
                   threads: writes.threads, persist: persist, poolOpens: opens, kernelAtomic: kernelAtomic,
                   scale: scale)
}

/// The stages that share the peers: the size sweep, then the thread
/// scaling on the same pool. The peers are closed on the way out.
func measureWrites(_ options: Options, scratch: Scratch) throws
    -> (sizes: [SizeResult], threads: ThreadResult, poolGranularity: String, poolWords: String?, rawGranularity: String)
{
    let pool = PoolPeer(path: scratch.path("pool"))
    let raw = RawPeer(path: scratch.path("raw"))
    let peers: [any Peer] = [
        pool, FloorPeer(path: scratch.path("floor")), raw, ObjPeer(path: scratch.path("obj")),
        ObjPeer(path: scratch.path("objnt"), nonTemporal: true),
        BlkPeer(blockSize: 512, path: scratch.path("blk512")), BlkPeer(blockSize: 4096, path: scratch.path("blk4k")),
    ]
    defer { for peer in peers { peer.tearDown() } }
    for peer in peers {
        Console.progress("setting up \(peer.name)")
        do { try peer.setUp() } catch { throw PeerFailure("setting up \(peer.name): \(error)") }
    }
    guard let openPool = pool.pool else { throw PeerFailure("the pool did not open") }
    let sizes = try SizeSweep.run(peers: peers, pool: pool, repetitions: options.repetitions, quick: options.quick)
    let threads = try ThreadScaling.measure(pool: openPool, repetitions: options.repetitions, quick: options.quick)
    return (sizes, threads, openPool.ioInfo.storeGranularity.description, openPool.wordPersistence?.rawValue, raw.granularity)
}

func environmentValue(_ name: String) -> String {
    getenv(name).map { String(cString: $0) } ?? "(unset)"
}
