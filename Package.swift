// swift-tools-version: 6.2
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

// Crash points, dropped persistence steps, fault injection: testing (debug)
// builds only; a release build carries none of them.
let layerSettings: [SwiftSetting] = strictSwift + [.define("PMEM_TEST_HOOKS", .when(configuration: .debug))]

let package = Package(
    name: "swift-pmem",
    products: [
        .library(name: "PMem", targets: ["PMem"]),
        .library(name: "PMemCrashTesting", targets: ["PMemCrashTesting"]),
        .executable(name: "pmemctl", targets: ["pmemctl"]),
        .executable(name: "pmem-counter", targets: ["PMemCounterExample"]),
        .executable(name: "pmem-torture", targets: ["PMemTortureExample"]),
        .executable(name: "pmem-kv", targets: ["PMemKVStoreExample"]),
        .executable(name: "pmem-dma-extents", targets: ["PMemDMAExtentsExample"]),
        .executable(name: "pmem-crash-lab", targets: ["PMemCrashLabExample"]),
        .executable(name: "pmem-fuzz", targets: ["PMemFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Layer 1: the C binding (libpmem2 from Debian's libpmem2-dev).
        .systemLibrary(
            name: "CPMem2",
            pkgConfig: "libpmem2",
            providers: [.apt(["libpmem2-dev"])]
        ),
        // Layer 1: Linux file-system calls and ioctl numbers Swift's Glibc lacks.
        .systemLibrary(name: "CLinux"),
        .target(name: "CCRC32C"),
        // Layer 1: atomic 8-byte stores and lock words on raw memory.
        .target(name: "CPMemAtomics"),
        // The layers of the library, one target each, so that the compiler
        // holds their dependencies pointing down: a layer can import only
        // what it lists (CI builds with the explicit import check).
        //
        // Layer 1 in Swift: the error type, the system calls (behind one
        // file, with the fault injector of testing builds), CRC-32C.
        .target(
            name: "PMemSystem",
            dependencies: ["CPMem2", "CLinux", "CCRC32C", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: layerSettings
        ),
        // Layer 2: mappings, persistence and its routing, I/O info.
        .target(
            name: "PMemMapping",
            dependencies: ["PMemSystem", "CPMem2", "CLinux", "CPMemAtomics", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: layerSettings
        ),
        // Layer 3: sealed (block-map-immutable) files.
        .target(
            name: "PMemSealing",
            dependencies: ["PMemMapping", "PMemSystem", "CLinux", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: layerSettings
        ),
        // Layer 4: failure-atomic pools.
        .target(
            name: "PMemPool",
            dependencies: ["PMemSealing", "PMemMapping", "PMemSystem", "CPMemAtomics",
                           .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: layerSettings
        ),
        // The product: re-exports every layer's public API.
        .target(
            name: "PMem",
            dependencies: ["PMemSystem", "PMemMapping", "PMemSealing", "PMemPool", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: strictSwift
        ),
        // Layer 5: crash testing for users' own persistent code.
        .target(
            name: "PMemCrashTesting",
            dependencies: ["PMem", "PMemSystem", "PMemMapping", "PMemPool", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: strictSwift
        ),
        // Layer 5: the command-line tool and the examples.
        .executableTarget(
            name: "pmemctl",
            dependencies: [
                "PMem",
                "PMemCrashTesting",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "PMemCounterExample",
            dependencies: ["PMem"],
            path: "examples/counter",
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "PMemTortureExample",
            dependencies: ["PMem"],
            path: "examples/torture",
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "PMemKVStoreExample",
            dependencies: ["PMem"],
            path: "examples/kvstore",
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "PMemDMAExtentsExample",
            dependencies: ["PMem"],
            path: "examples/dma-extents",
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "PMemCrashLabExample",
            dependencies: ["PMem", "PMemCrashTesting"],
            path: "examples/crash-lab",
            swiftSettings: strictSwift
        ),
        // The pool-image fuzzer: a replay tool normally, libFuzzer's target
        // when scripts/fuzz builds it with --sanitize=fuzzer -DPMEM_FUZZING.
        .executableTarget(
            name: "PMemFuzz",
            dependencies: ["PMem", .product(name: "SystemPackage", package: "swift-system")],
            // Its base images use the library's crash points (debug builds).
            swiftSettings: strictSwift + [.unsafeFlags(["-parse-as-library"]), .define("PMEM_TEST_HOOKS", .when(configuration: .debug))]
        ),
        // Test machinery: counts the test thread's heap allocations.
        .target(name: "CMallocCounter", path: "Tests/CMallocCounter"),
        // The tests' shared harnesses: the crash checker, scratch files, loop
        // mounts, the torture writer. Test machinery, in no product.
        .target(
            name: "PMemTestSupport",
            dependencies: ["PMem", "PMemSystem", "PMemMapping", "PMemSealing", "PMemPool", "PMemCrashTesting", "CLinux", "CMallocCounter",
                           .product(name: "SystemPackage", package: "swift-system")],
            path: "Tests/PMemTestSupport",
            // Its declarations name the library's types: imports stay public.
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        .testTarget(
            name: "PMemTests",
            dependencies: ["PMem", "PMemSystem", "PMemMapping", "PMemSealing", "PMemPool", "PMemCrashTesting", "PMemTestSupport", "CPMem2", "CLinux", "CMallocCounter", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: strictSwift
        ),
    ],
    swiftLanguageModes: [.v6]
)
