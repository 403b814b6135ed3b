import Foundation
import Testing

/// Why a test did not run. The allowed reasons are the known ones, each
/// with its reason (the machine cannot do it, or another stage runs it);
/// any other reason means the machine lacks something the suites need.
package enum SkipReason: String, Sendable, CaseIterable {
    /// A sanitizer interposes malloc itself, so the heap cannot be counted.
    case sanitizer
    /// What the kernel offers decides which of two forms can be shown
    /// (tmpfs's user xattrs came in Linux 6.6); the other kernel (Debian
    /// 12's 6.1 in the VM, or the host's) runs the other form.
    case kernelVersion
    /// The CPU lacks an instruction a code path needs (the AVX-512 fold).
    case cpuFeature
    /// The loop device offers what the test needs it not to offer.
    case deviceOffersMore
    /// Not root: loop mounts, tmpfs mounts, FS_IMMUTABLE_FL.
    case needsRoot
    /// A loop device, an image or a mount failed.
    case loopDevice
    /// The kernel is new enough for a feature but does not offer it.
    case missingKernelFeature
    /// The test directory is not on the file system the test is for.
    case wrongFileSystem

    /// Skips that CI accepts: they are printed at the end of the run.
    package var isAllowed: Bool {
        switch self {
        case .sanitizer, .kernelVersion, .cpuFeature, .deviceOffersMore: true
        case .needsRoot, .loopDevice, .missingKernelFeature, .wrongFileSystem: false
        }
    }
}

/// Skipping a test, visibly. Every skip prints `SKIPPED (reason): …` on
/// standard error. With `SWIFT_PMEM_REQUIRE_ALL=1` (CI sets it) a skip whose
/// reason is not allowed fails the test instead of cancelling it, so that a
/// machine without loop devices or root cannot pass with whole layers
/// untested.
package enum Skip {
    /// Whether skips must be allowed ones (`SWIFT_PMEM_REQUIRE_ALL=1`).
    package static var requireAll: Bool { ProcessInfo.processInfo.environment["SWIFT_PMEM_REQUIRE_ALL"] == "1" }

    /// A skip that was not allowed.
    package struct Refused: Error, CustomStringConvertible {
        package let reason: SkipReason
        package let detail: String
        package var description: String {
            "a test was skipped (\(reason.rawValue): \(detail)), and SWIFT_PMEM_REQUIRE_ALL=1 allows only \(SkipReason.allCases.filter(\.isAllowed).map(\.rawValue).joined(separator: ", "))"
        }
    }

    /// Ends the calling test: cancelled, or (not allowed under
    /// `requireAll`) failed with ``Refused``.
    package static func test(_ reason: SkipReason, _ detail: String, requireAll: Bool = requireAll) throws -> Never {
        let line = "SKIPPED (\(reason.rawValue)\(reason.isAllowed ? "" : ", not allowed in CI")): \(detail)"
        FileHandle.standardError.write(Data((line + "\n").utf8))
        if requireAll && !reason.isAllowed { throw Refused(reason: reason, detail: detail) }
        try Test.cancel(Comment(rawValue: line))
    }
}

/// The major and minor version of a kernel release ("6.18.44-…" → (6, 18)).
package func kernelVersion(_ release: String) -> (Int, Int) {
    let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    return (parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
}
