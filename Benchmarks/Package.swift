// swift-tools-version: 6.2
// The benchmarks live in their own package so that the library does not
// depend on package-benchmark. Run them with:
//   swift package --package-path Benchmarks benchmark
// and the side-by-side comparison with PMDK (libpmemobj, libpmemblk, raw
// libpmem2) with:
//   swift run --package-path Benchmarks -c release pmem-compare [--quick]
import PackageDescription

let package = Package(
    name: "swift-pmem-benchmarks",
    products: [
        .executable(name: "pmem-compare", targets: ["PMemCompare"]),
        .executable(name: "pmem-instructions", targets: ["PMemInstructions"]),
    ],
    dependencies: [
        .package(name: "swift-pmem", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .executableTarget(
            name: "PMemBenchmarks",
            dependencies: [
                .product(name: "PMem", package: "swift-pmem"),
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Benchmarks/PMemBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // The C peers pmem-compare measures against (Debian's libpmemobj-dev,
        // libpmemblk-dev and libpmem2-dev).
        .target(
            name: "PMDKPeers",
            linkerSettings: [
                .linkedLibrary("pmemobj"), .linkedLibrary("pmemblk"),
                .linkedLibrary("pmem2"), .linkedLibrary("pmem"),
            ]
        ),
        // The floor of a logged write (FloorLoop.c is its definition), with
        // the library's CRC-32C code (symbolic links to Sources/CCRC32C)
        // compiled under other names: the library's copy is linked too.
        .target(
            name: "FloorLoop",
            cSettings: [
                "ccrc32c_check_keyed_words", "ccrc32c_copy_body_fold", "ccrc32c_copy_body_nt", "ccrc32c_cpu_features_", "ccrc32c_fold_available",
                "ccrc32c_fold_update", "ccrc32c_hardware_available", "ccrc32c_hardware_update", "ccrc32c_hardware_update3",
            ].map { .define($0, to: "floor_" + $0) },
            linkerSettings: [.linkedLibrary("pmem2")]
        ),
        .executableTarget(
            name: "PMemCompare",
            dependencies: [
                "PMDKPeers",
                "FloorLoop",
                .product(name: "PMem", package: "swift-pmem"),
                // PersistenceCounter: the counted pass (fences, msync calls, lines flushed).
                .product(name: "PMemCrashTesting", package: "swift-pmem"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Sources/PMemCompare"
        ),
        // Instruction counts of Pool.write under callgrind (scripts/instruction-counts).
        .executableTarget(
            name: "PMemInstructions",
            dependencies: [.product(name: "PMem", package: "swift-pmem"),
                           .product(name: "SystemPackage", package: "swift-system")],
            path: "Sources/PMemInstructions"
        ),
    ],
    swiftLanguageModes: [.v6]
)
