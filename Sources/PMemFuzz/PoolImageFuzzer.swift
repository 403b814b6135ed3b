// The pool open/recovery path under libFuzzer (`-sanitize=fuzzer`): every
// input is damage done to a small pool's metadata, and the open must either
// refuse the pool or give a page table that is in range and one-to-one;
// never trap, never read or write outside the image (run with ASan).
//
// Input: byte 0 holds flags (bit 0: start from a pool with a committed,
// unapplied update in a lane; bit 1: recompute every checksum after the
// damage, to reach the range checks behind them). Then patches, each a
// little-endian UInt16 offset into the metadata, a length byte, and that
// many bytes.
//
// Built normally, this is a replay tool: `pmem-fuzz FILE|DIR…` runs each
// input once and prints a summary (CI replays the seed corpus this way).
// Built by scripts/fuzz with `--sanitize=fuzzer -DPMEM_FUZZING`, libFuzzer
// drives it.
import Glibc
import PMem
import SystemPackage

/// The two starting images, made once with the real create and commit code.
enum BaseImages {
    nonisolated(unsafe) static var clean: [UInt8] = []
    nonisolated(unsafe) static var committed: [UInt8] = []
    nonisolated(unsafe) static var metadataEnd = 0

    static func make() {
        guard clean.isEmpty else { return }
        let directory = FilePath("/dev/shm")
        let path = directory.appending("swift-pmem-fuzz-base-\(getpid())")
        do {
            var pool: Pool? = try Pool.create(at: path, capacity: 4 * 4096, chunkSize: 4096, lanes: 2)
            for half in [0, 8192] { try pool!.write([UInt8](repeating: 1, count: 8192), at: half) }
            pool = nil
            clean = readAll(path)
            pool = try Pool.open(at: path)
            #if PMEM_TEST_HOOKS
            // A commit stopped at its commit point: a valid record left in a
            // lane (the library's crash points exist in builds with test hooks).
            _ = Pool.$crashPoint.withValue(.afterCommitRecord) { () -> Bool in
                do {
                    try pool!.transaction { (tx: inout PoolTransaction) in
                        tx.write([UInt8](repeating: 2, count: 100), at: 10)
                        tx.write([UInt8](repeating: 3, count: 4096), at: 8192)
                    }
                } catch { return false }
                return true
            }
            #else
            print("pmem-fuzz: built without test hooks (a release build): no base image with a committed record")
            #endif
            pool = nil
            committed = readAll(path)
            metadataEnd = try clean.withUnsafeBytes { (b) throws(PMemError) in try PoolImage.metadataEnd(b) }
        } catch {
            print("pmem-fuzz: cannot make the base images in /dev/shm: \(error)")
            exit(1)
        }
        unlink(path.string)
    }

    /// The whole file; a file that cannot be read stops the tool, saying why.
    static func readAll(_ path: FilePath) -> [UInt8] {
        do { return try Syscalls.readFile(path) } catch { fatalError("pmem-fuzz: \(error)") }
    }
}

/// What one input did.
enum Outcome { case opened, refused }

/// Runs one input: damage, open (recovery and checks), and the invariants
/// of a pool that opened.
func runInput(_ data: UnsafeRawBufferPointer) -> Outcome {
    BaseImages.make()
    guard let flags = data.first else { return .refused }
    var image = flags & 1 == 0 ? BaseImages.clean : BaseImages.committed
    var cursor = 1
    while data.count - cursor >= 3 {
        let offset = (Int(data[cursor]) | Int(data[cursor + 1]) << 8) % BaseImages.metadataEnd
        let length = min(Int(data[cursor + 2]), data.count - cursor - 3, BaseImages.metadataEnd - offset)
        for i in 0..<length { image[offset + i] = data[cursor + 3 + i] }
        cursor += 3 + Int(data[cursor + 2])
    }
    return image.withUnsafeMutableBytes { bytes -> Outcome in
        if flags & 2 != 0 { PoolImage.resealChecksums(bytes) }
        guard let (_, table) = try? PoolImage.check(bytes) else { return .refused }
        // An opened pool names each physical chunk once, and in range.
        precondition(Set(table).count == table.count, "page table names a chunk twice")
        precondition((try? PoolImage.contents(UnsafeRawBufferPointer(bytes), pageTable: table)) != nil,
                     "a checked image has no readable contents")
        return .opened
    }
}

#if PMEM_FUZZING
/// libFuzzer's entry point: one input, one damaged image, one open.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = runInput(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
struct Replay {
    static func main() {
        var files: [String] = []
        for argument in CommandLine.arguments.dropFirst() {
            if let dir = opendir(argument) {
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                    if !name.hasPrefix(".") { files.append(argument + "/" + name) }
                }
                closedir(dir)
            } else {
                files.append(argument)
            }
        }
        guard !files.isEmpty else {
            print("usage: pmem-fuzz FILE|DIR…   (replays inputs; scripts/fuzz runs libFuzzer)")
            exit(2)
        }
        var opened = 0, refused = 0
        for file in files.sorted() {
            let bytes = BaseImages.readAll(FilePath(file))
            switch bytes.withUnsafeBytes({ runInput($0) }) {
            case .opened: opened += 1
            case .refused: refused += 1
            }
        }
        print("replayed \(files.count) inputs: \(opened) opened with a consistent page table, \(refused) refused as damaged; no traps")
    }
}
#endif
