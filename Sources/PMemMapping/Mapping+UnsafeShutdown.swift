import PMemSystem
import Synchronization
import CPMem2

/// A device's unsafe-shutdown count (USC): how many times the NVDIMMs behind
/// a file lost power without flushing their write buffers (an ADR failure).
///
/// Only real NVDIMMs (through the kernel's `ndctl` interface) keep one;
/// tmpfs and ordinary block devices do not (libpmem2: `PMEM2_E_NOSUPP`), and
/// emulated persistent memory (`memmap=`) has no NVDIMM behind its region
/// (libpmem2 answers a count of 0 and an empty id, taken here as no count):
/// then ``offered`` is false and ``note`` says why.
public struct DeviceShutdownCount: Sendable, Hashable, CustomStringConvertible {
    /// The identity of the device set behind the file (libpmem2's
    /// `pmem2_source_device_id`), or `""` when not offered.
    public var deviceID: String
    /// The sum of the unsafe-shutdown counts of the NVDIMMs behind the file
    /// (libpmem2's `pmem2_source_device_usc`), or nil when not offered.
    public var count: UInt64?
    /// Why there is no count, when there is none (libpmem2's words).
    public var note: String

    /// Whether the device offers an unsafe-shutdown count.
    public var offered: Bool { count != nil }

    /// The count and device, or why there is none.
    public var description: String {
        if let count { return "unsafe-shutdown count \(count) (device \(deviceID))" }
        return "unsafe-shutdown count not offered: \(note)"
    }
}

extension Mapping {
    /// The unsafe-shutdown count of the device behind the mapped file and
    /// its identity. Never throws: a device that offers no count (libpmem2
    /// answers `PMEM2_E_NOSUPP`), or a query that fails, gives a value with
    /// ``DeviceShutdownCount/offered`` false and the reason.
    public func unsafeShutdownCount() -> DeviceShutdownCount {
        if let injected = Syscalls.mediaOverride?.shutdownCount {
            switch injected {
            case .offered(let id, let count): return DeviceShutdownCount(deviceID: id, count: count, note: "")
            case .notOffered:
                return DeviceShutdownCount(deviceID: "", count: nil, note: "the device does not offer one (injected for a test)")
            }
        }
        func failure(_ rc: CInt, _ what: String) -> DeviceShutdownCount {
            let why = rc == PMEM2_E_NOSUPP ? "the device does not offer one" : "reading the \(what) failed (\(rc))"
            return DeviceShutdownCount(deviceID: "", count: nil, note: "\(why): \(String(cString: pmem2_errormsg()))")
        }
        return libndctlQueries.withLock { _ in deviceShutdownCount(failure) }
    }

    private func deviceShutdownCount(_ failure: (CInt, String) -> DeviceShutdownCount) -> DeviceShutdownCount {
        var usc: UInt64 = 0
        var rc = pmem2_source_device_usc(source, &usc)
        guard rc == 0 else { return failure(rc, "unsafe-shutdown count") }
        var length = 0
        rc = pmem2_source_device_id(source, nil, &length)
        guard rc == 0, length > 0 else { return failure(rc, "device id") }
        var id = [CChar](repeating: 0, count: length + 1)
        rc = pmem2_source_device_id(source, &id, &length)
        guard rc == 0 else { return failure(rc, "device id") }
        let deviceID = String(decoding: id.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // libpmem2 sums the counts of the NVDIMMs in the namespace's region
        // and joins their ids: a region with none (memmap= pmem, whose
        // region has 0 mappings) gives 0 and "", which is no count at all.
        guard !deviceID.isEmpty else {
            return DeviceShutdownCount(deviceID: "", count: nil,
                                       note: "no NVDIMM is behind this namespace (emulated pmem such as memmap=), so libpmem2's count of 0 is a sum over no devices")
        }
        return DeviceShutdownCount(deviceID: deviceID, count: usc, note: "")
    }
}

/// libpmem2 answers device questions (unsafe-shutdown count, device id, bad
/// blocks) through libndctl and libkmod, which keep state that two threads
/// must not use at once: a pool open on each of two threads crashed inside
/// libpmem2 once in CI's crash-model stage. One query at a time (opens only).
let libndctlQueries = Mutex(())
