import PMemSystem
import PMemMapping
import CPMemAtomics

/// The write that leaves no record: at most 8 bytes inside one aligned
/// 8-byte word (docs/FORMAT.md, "Update protocol", in place).
extension Pool {
    /// At most 8 bytes inside one aligned 8-byte word: merged into the word
    /// and stored with one atomic 8-byte store, flushed, fenced.
    func storeInPlace(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(PMemError) {
        let logical = layout.chunk(of: offset)
        guard locks.lock(chunk: logical) else { throw needsRecoveryError }
        defer { locks.unlock(chunk: logical) }
        // An in-place write leaves no record: a record still valid for this
        // chunk dies first (I2). No lane otherwise: its counters are the
        // chunk's.
        let killed = killLiveRecord(touching: logical)
        defer { if let killed { locks.releaseLane(killed) } }
        // Through the file mapping (the same memory as the view), so that the
        // flush names the file's own addresses.
        let word = fileAddress(ofLogical: offset & ~7)
        // A whole word needs no merge, so its line is not read.
        var value: UInt64
        if bytes.count == 8 {
            value = bytes.loadUnaligned(as: UInt64.self)
        } else {
            value = pmem_load64(word)
            withUnsafeMutableBytes(of: &value) { w in
                for i in 0..<bytes.count { w[offset & 7 + i] = bytes[i] }
            }
        }
        if wordPersistence == .streamed {
            // Cache-line flushes, on a CPU where this measured faster at
            // open: one non-temporal store, which needs no flush.
            if Self.drops(.inPlaceStream) { pmem_store64(word, value) } else { persistence.storeWordNonTemporally(word, value) }
        } else {
            pmem_store64(word, value)
            flush(word, 8, at: .inPlaceFlush)
        }
        fence(at: .inPlaceFence)
        locks.addInPlace(chunk: logical, bytes: bytes.count)
    }
}
