/// The command line, parsed by hand so the tool needs no argument library.
struct Options {
    var quick = false
    var directory = "/dev/shm"
    var jsonPath = "Benchmarks/results/compare.json"
    /// --json as given (--scale-only writes elsewhere by default).
    var explicitJSONPath: String?
    var svgPath = "Benchmarks/results/compare.svg"
    var explicitRepetitions: Int?
    /// Whether to set PMEM2_FORCE_GRANULARITY and PMEM_IS_PMEM_FORCE, so that
    /// every peer takes the cache-flush path on a non-DAX file system.
    var force = true
    /// What the forcing sets: `cache_line` (the flushes of ADR platforms)
    /// or `byte` (eADR and CXL global persistent flush: no flushes; PMDK's
    /// libpmem is told so with PMEM_NO_FLUSH=1).
    var granularity = "cache_line"
    /// Whether to run the xfs stage (a loop mount; needs root).
    var xfs = true
    /// Whether to run the xfs stage alone, printing its table only.
    var xfsOnly = false
    /// A payload size to write in a loop, alone, for a profiler.
    var loopSize: Int?
    /// Where the scale section's pools go (a disk: up to 16 GiB), whether it
    /// runs, and whether it runs alone.
    var scaleDirectory = "/var/tmp"
    var scale = true
    var scaleOnly = false

    /// Repetitions of every measurement; the median is reported.
    var repetitions: Int { explicitRepetitions ?? (quick ? 3 : 7) }

    static let usage = """
        usage: pmem-compare [--quick] [--granularity cache_line|byte] [--dir DIR] [--json PATH] [--svg PATH] [--reps N] [--no-force] [--no-xfs] [--xfs-only] [--loop BYTES]

        Measures swift-pmem's atomic writes against raw libpmem2, libpmemobj
        transactions and libpmemblk blocks on one file system, plus persist
        overhead, pool open time, thread scaling, fences and msync calls per
        commit (counted), and Pool.write against pwritev2(RWF_ATOMIC | RWF_DSYNC)
        on a loop-mounted xfs (as root; skipped, saying why, where not offered).

          --quick       3 repetitions, fewer writes, skip the 1 GiB and 4 GiB pool opens
          --granularity G  what every peer is forced to: cache_line (default) or byte
                        (no flushes, as on eADR platforms; PMEM_NO_FLUSH=1 for PMDK)
          --dir DIR     where the scratch files go (default /dev/shm); removed at the end
          --json PATH   results as JSON (default Benchmarks/results/compare.json)
          --svg PATH    chart as SVG (default Benchmarks/results/compare.svg)
          --reps N      repetitions per measurement (default 7, or 3 with --quick)
          --no-force    leave PMEM2_FORCE_GRANULARITY and PMEM_IS_PMEM_FORCE as they are
          --no-xfs      skip the loop-mounted xfs stage
          --xfs-only    run the xfs stage alone; print its table, write no files
          --scale-dir DIR  where the scale section's pools go (default /var/tmp: a disk;
                        32 Ki, 512 Ki and 4 Mi chunks of 4 KiB, the last a 16 GiB file;
                        --quick: the first two)
          --no-scale    skip the scale section
          --scale-only  run the scale section alone; print its table, write its JSON
                        (default Benchmarks/results/scale.json)
          --loop BYTES  only Pool.write of BYTES in a loop (about 2 s), printing ns per
                        write: for a profiler (perf record); writes no files
        """

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    /// The options, or nil when help was asked for.
    static func parse(_ arguments: [String]) throws(UsageError) -> Options? {
        var options = Options()
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "-h", "--help":
                return nil
            case "--quick":
                options.quick = true
            case "--no-force":
                options.force = false
            case "--no-xfs":
                options.xfs = false
            case "--xfs-only":
                options.xfsOnly = true
            case "--no-scale":
                options.scale = false
            case "--scale-only":
                options.scaleOnly = true
            case "--dir", "--json", "--svg", "--reps", "--loop", "--granularity", "--scale-dir":
                guard let value = rest.popFirst(), !value.isEmpty, !value.hasPrefix("--") else {
                    throw UsageError(description: "\(argument) needs a value")
                }
                switch argument {
                case "--dir": options.directory = value
                case "--scale-dir": options.scaleDirectory = value
                case "--granularity":
                    guard ["cache_line", "byte"].contains(value) else {
                        throw UsageError(description: "--granularity is cache_line or byte, not \(value)")
                    }
                    options.granularity = value
                case "--json":
                    options.jsonPath = value
                    options.explicitJSONPath = value
                case "--svg": options.svgPath = value
                case "--loop":
                    guard let n = Int(value), n >= 1, n <= Workload.spareCapacity else {
                        throw UsageError(description: "--loop needs a payload size from 1 to \(Workload.spareCapacity) bytes, not \(value)")
                    }
                    options.loopSize = n
                default:
                    guard let n = Int(value), n >= 1 else {
                        throw UsageError(description: "--reps needs a positive whole number, not \(value)")
                    }
                    options.explicitRepetitions = n
                }
            default:
                throw UsageError(description: "unknown option \(argument)")
            }
        }
        return options
    }
}
