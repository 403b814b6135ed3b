/// A JSON value written with its keys in a fixed order, so that `--json`
/// output is stable for scripts (and diffable between runs).
enum JSON {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    var rendered: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .number(let d): d.isFinite ? String(d) : "null"
        case .string(let s): Self.quote(s)
        case .array(let items): "[" + items.map(\.rendered).joined(separator: ", ") + "]"
        case .object(let pairs): "{" + pairs.map { "\(Self.quote($0.0)): \($0.1.rendered)" }.joined(separator: ", ") + "}"
        }
    }

    private static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20:
                out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
