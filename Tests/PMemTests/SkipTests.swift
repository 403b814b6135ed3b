import Foundation
import PMemTestSupport
import Testing

@Suite("Skips are visible, and fail CI unless allowed")
struct SkipTests {
    @Test("under SWIFT_PMEM_REQUIRE_ALL=1 a skip for a reason not on the allow-list fails the run")
    func plantedSkipFails() async {
        // A child process: a test that skips for a reason CI does not allow
        // (no root), with SWIFT_PMEM_REQUIRE_ALL=1. Its run fails.
        await #expect(processExitsWith: .failure) {
            try Skip.test(.needsRoot, "planted by SkipTests", requireAll: true)
        }
    }

    @Test("the refusal names the reason and the allow-list; allowed reasons stay skips")
    func refusalSaysWhy() {
        let error = #expect(throws: Skip.Refused.self) { try Skip.test(.loopDevice, "planted by SkipTests", requireAll: true) }
        #expect(error?.description.contains("loopDevice") == true)
        #expect(error?.description.contains("sanitizer") == true)
        #expect(SkipReason.allCases.filter(\.isAllowed) == [.sanitizer, .kernelVersion, .cpuFeature, .deviceOffersMore])
    }

    @Test("kernel releases are compared by major and minor version")
    func kernelVersions() {
        #expect(kernelVersion("6.18.44-fc-v1300") == (6, 18))
        #expect(kernelVersion("6.1.0-28-amd64") == (6, 1))
        #expect(kernelVersion("6.1.0-28-amd64") < (6, 16))
    }
}
