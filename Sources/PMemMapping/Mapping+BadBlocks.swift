public import PMemSystem
import CPMem2

/// A range of the file whose media is known to be bad (reads may raise a
/// machine check).
public struct BadBlock: Sendable, Hashable {
    /// The offset of the bad range in the file, in bytes.
    public var fileOffset: Int
    /// The length of the bad range, in bytes.
    public var length: Int

    /// Creates a bad-block record.
    public init(fileOffset: Int, length: Int) {
        self.fileOffset = fileOffset
        self.length = length
    }
}

extension Mapping {
    /// The bad blocks of the mapped file, as the pmem driver reports them.
    ///
    /// Only files on persistent memory (fsdax or devdax) have a bad-block
    /// list; elsewhere this throws ``/PMemSystem/PMemError/Code/notSupported``.
    /// Offsets are file offsets (libpmem2 translates the namespace's list
    /// through the file's extents).
    public func badBlocks() throws(PMemError) -> [BadBlock] {
        if let injected = Syscalls.mediaOverride?.badBlocks { return injected }
        // libpmem2 answers "none" for a file on an ordinary block device,
        // which would read as a clean bill of health; say what is true instead.
        guard isMapSync || isDeviceDAX else {
            throw PMemError(.notSupported, "bad blocks are tracked only for persistent memory (fsdax or devdax); this file is not on DAX, so its device handles bad sectors itself", path: path)
        }
        let listed = libndctlQueries.withLock { _ in Result { () throws(PMemError) in try listBadBlocks() } }
        return try listed.get()
    }

    /// libpmem2's bad-block list for the mapping's source (one query at a
    /// time: see `libndctlQueries`).
    private func listBadBlocks() throws(PMemError) -> [BadBlock] {
        var context: OpaquePointer?
        let rc = pmem2_badblock_context_new(&context, source)
        guard rc == 0, context != nil else {
            var error = PMemError.libpmem2(rc, "opening the bad-block list", path: path)
            if error.code == .notSupported || error.code == .notARegularFile {
                error.code = .notSupported
                error.message = "bad blocks can only be listed for files on persistent memory (fsdax or devdax): \(error.message)"
            }
            throw error
        }
        defer { pmem2_badblock_context_delete(&context) }
        var blocks: [BadBlock] = []
        var block = pmem2_badblock()
        while true {
            let next = pmem2_badblock_next(context, &block)
            if next == PMEM2_E_NO_BAD_BLOCK_FOUND { break }
            if next != 0 { throw PMemError.libpmem2(next, "reading the bad-block list", path: path) }
            blocks.append(BadBlock(fileOffset: block.offset, length: block.length))
        }
        return blocks
    }
}
