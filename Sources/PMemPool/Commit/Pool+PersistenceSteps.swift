import PMemSystem
import PMemMapping
import CPMemAtomics

/// The persistence calls of the commit and recovery paths, each at a named
/// site (Pool+TestHooks.swift): a test may leave out the call at one site,
/// and the crash model must notice; a release build calls the table.
extension Pool {
    @inline(__always)
    func flush(_ address: UnsafeRawPointer, _ count: Int, at site: PersistenceSite) {
        if !Self.drops(site) { persistence.flush(address, count) }
    }

    @inline(__always)
    func fence(at site: PersistenceSite) {
        if !Self.drops(site) { persistence.drain() }
    }

    /// Left out, the copy is made with ordinary stores and not flushed.
    @inline(__always)
    func copyAndFlush(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int, at site: PersistenceSite) {
        if Self.drops(site) { destination.copyMemory(from: source, byteCount: count) } else { persistence.copyAndFlush(destination, source, count) }
    }

    /// Kills the record in `lane`, which the caller holds: its sequence word
    /// becomes 0 (one atomic store), and the line is flushed; the caller's
    /// next fence makes it durable. Killing a record whose commit returned is
    /// always safe: it was applied and fenced before its lane was released.
    @inline(__always)
    func kill(lane: Int, at site: PersistenceSite) {
        let record = file.base + layout.laneOffset(lane)
        pmem_store64(record + CommitRecord.sequenceOffset, 0)
        flush(record, CommitRecord.headerSize, at: site)
    }

    /// The table's one-pass copy and checksum (non-temporal past
    /// `throughCache`). Left out, the same copy is made with the CPU's
    /// non-temporal stores but without the table, so a simulated domain
    /// never learns of them: they are lost in every crash image.
    @inline(__always)
    func copyChecksummed(at site: PersistenceSite, into destination: UnsafeMutableRawPointer, head: UnsafeRawBufferPointer,
                         data: UnsafeRawBufferPointer, throughCache: Int) -> (UInt32, UInt32, UInt32)? {
        if Self.drops(site) { return CRC32C.copyThreeParts(into: destination, head: head, data: data, throughCache: throughCache) }; return persistence.copyChecksummed(destination, head, data, throughCache)
    }
}
