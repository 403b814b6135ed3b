import ArgumentParser

/// A size on the command line: `4096`, `64K`, `64M`, `1G`, `2T` (powers of 1024;
/// `KiB`, `MiB`, … and a trailing `B` are accepted too).
struct ByteCount: ExpressibleByArgument {
    var bytes: Int

    init?(argument: String) {
        var text = argument.uppercased()
        for suffix in ["IB", "B"] where text.hasSuffix(suffix) && text.count > suffix.count {
            text.removeLast(suffix.count)
            break
        }
        let units: [Character: Int] = ["K": 10, "M": 20, "G": 30, "T": 40]
        var shift = 0
        if let last = text.last, let s = units[last] {
            shift = s
            text.removeLast()
        }
        guard let value = Int(text), value >= 0, value <= Int.max >> shift else { return nil }
        bytes = value << shift
    }

    /// The help's default: the largest unit that divides it (`2M`, not `2097152`).
    var defaultValueDescription: String {
        for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] where bytes != 0 && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return String(bytes)
    }
}
