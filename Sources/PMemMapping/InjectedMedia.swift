package import PMemSystem
import Glibc
// A seam for tests of the media checks: what a device reports, injected.

/// What a test makes the device report about its media (debug builds only;
/// a release build never reads it): a bad-block list, and the unsafe-shutdown
/// count or its absence. A nil field leaves that query to the real device.
package struct InjectedMedia: Sendable {
    /// The unsafe-shutdown count a device reports, or that it reports none.
    package enum ShutdownCount: Sendable {
        /// The device has this id and this count.
        case offered(deviceID: String, count: UInt64)
        /// The device offers no count (libpmem2's `PMEM2_E_NOSUPP`).
        case notOffered
    }
    /// The bad blocks, as file ranges; reported even off DAX.
    package var badBlocks: [BadBlock]?
    package var shutdownCount: ShutdownCount?

    package init(badBlocks: [BadBlock]? = nil, shutdownCount: ShutdownCount? = nil) {
        self.badBlocks = badBlocks
        self.shutdownCount = shutdownCount
    }
}

package extension Syscalls {
    #if PMEM_TEST_HOOKS
    /// The media facts to report in the current task (tests only).
    @TaskLocal static var injectedMedia: InjectedMedia?
    #endif

    /// The injected media facts; always nil without test hooks. A child
    /// process (pmemctl under test) takes an unsafe-shutdown count from
    /// `SWIFT_PMEM_INJECTED_SHUTDOWN_COUNT=DEVICE-ID:COUNT` instead.
    @inline(__always)
    static var mediaOverride: InjectedMedia? {
        #if PMEM_TEST_HOOKS
        if let injectedMedia { return injectedMedia }
        guard let text = getenv("SWIFT_PMEM_INJECTED_SHUTDOWN_COUNT").map({ String(cString: $0) }),
              let colon = text.lastIndex(of: ":"), let count = UInt64(text[text.index(after: colon)...]) else { return nil }
        return InjectedMedia(shutdownCount: .offered(deviceID: String(text[..<colon]), count: count))
        #else
        return nil
        #endif
    }
}
