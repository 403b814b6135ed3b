// swift-tools-version: 6.1
// The benchmarks live in their own package so that the library does not
// depend on package-benchmark. Run them with:
//   swift package --package-path Benchmarks benchmark
import PackageDescription

let package = Package(
    name: "swift-pmem-benchmarks",
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
    ],
    swiftLanguageModes: [.v6]
)
