public import PMemSystem
import PMemMapping
public import PMemSealing
import Glibc
public import SystemPackage

extension Pool {
    /// Writes a consistent copy of the pool at `source` into a new sealed
    /// pool at `destination`, and returns the copy, open.
    ///
    /// A plain `cp` of a pool file gives a file whose seal no longer matches
    /// its block map (and copies whatever an unrecovered crash left in the
    /// lanes). This opens the source (recovering it, and holding its lock so
    /// that no other process writes it meanwhile), then creates the copy the
    /// way ``create(at:capacity:chunkSize:spareCapacity:lanes:permissions:sealPlacement:progress:)-(FilePath,_,_,_,_,_,_,_)``
    /// does: with the source's geometry, its logical contents written in
    /// logical order (so every chunk is at home, the page table the
    /// identity), idle lanes, and the file named only once it is whole and
    /// sealed. A failure or a crash leaves no file at `destination`.
    ///
    /// - Parameters:
    ///   - source: The pool to copy; it must not be open in this process.
    ///   - destination: Where the copy goes (it must not exist).
    ///   - permissions: The copy's mode; 0600 by default.
    ///   - sealPlacement: Where the copy keeps its seal.
    ///   - progress: Reports the writing of the new file.
    public static func copy(
        from source: FilePath, to destination: FilePath, permissions: FilePermissions = .ownerReadWrite,
        sealPlacement: SealPlacement = .automatic, progress: ((SealProgress) -> Void)? = nil
    ) throws(PMemError) -> Pool {
        let original = try Pool.open(at: source)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let old = original.layout
        let layout = PoolLayout(capacity: old.capacity, chunkSize: old.chunkSize, spareChunks: old.spareChunks,
                                laneCount: old.laneCount, createdAt: Int64(now.tv_sec))
        _ = try SealedFile.create(at: destination, size: layout.fileSize, permissions: permissions, replaceExisting: false,
                                  placement: sealPlacement, progress: progress) { (fd) throws(PMemError) in
            try writeInitialMetadata(fd, layout: layout, path: destination)
            try original.withUnsafeBytes { (view) throws(PMemError) in
                for logical in 0..<layout.logicalChunks {
                    let bytes = UnsafeRawBufferPointer(rebasing: view[(logical * layout.chunkSize)..<((logical + 1) * layout.chunkSize)])
                    // The new file is zero already: chunks of zeros need no write.
                    guard bytes.contains(where: { $0 != 0 }) else { continue }
                    if case .failure(let errno) = Syscalls.pwriteAll(fd, bytes, at: layout.chunkOffset(logical)) {
                        throw PMemError.system(errno, "writing the copy's chunk \(logical)", path: destination)
                    }
                }
            }
        }
        original.close()
        do {
            return try Pool(opening: destination)
        } catch {
            _ = Syscalls.withoutInjectedFault { Syscalls.unlink(destination) }
            throw error
        }
    }
}
