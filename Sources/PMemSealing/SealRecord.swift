package import PMemSystem
import PMemMapping
package import SystemPackage

/// The seal of a block-map-immutable file. Two forms, both documented in the
/// DocC article "Sealed-File Format" (64 bytes, little-endian):
///
/// - version 1, in the extended attribute `user.swift-pmem.seal`;
/// - version 2, at the start of the file's last page, where the file system
///   has no user extended attributes (or the caller asked for it). It adds
///   the inode number the record belongs to, so that a copy of the file
///   (whose last page comes along) is not taken for the sealed file, and a
///   pending flag for a seal that was still being made.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `"PMEMSEAL"` |
/// | 8 | 2 | version (1: extended attribute, 2: last page) |
/// | 10 | 2 | record size (64) |
/// | 12 | 4 | flags: bit 0 extents verified with FIEMAP; bit 1 last page (version 2 only, always set); bit 2 pending (version 2 only) |
/// | 16 | 8 | file size in bytes (the last page included) |
/// | 24 | 8 | number of normalized extents |
/// | 32 | 4 | extent-map digest (CRC-32C) |
/// | 36 | 4 | file-system magic (`statfs.f_type`) at sealing |
/// | 40 | 8 | sealing time, seconds since 1970 |
/// | 48 | 8 | version 2: inode number; version 1: reserved, zero |
/// | 56 | 4 | reserved, zero |
/// | 60 | 4 | CRC-32C of bytes 0..<60 |
package struct SealRecord: Sendable, Equatable {
    package static let attributeName = "user.swift-pmem.seal"
    package static let magic: [UInt8] = Array("PMEMSEAL".utf8)
    package static let size = 64

    /// Where the record is kept: `.extendedAttribute` or `.lastPage`.
    package var placement: SealPlacement
    package var extentsVerified: Bool
    /// The whole file's size, the last page included when the record is there.
    package var fileSize: Int
    package var extentCount: Int
    package var digest: UInt32
    package var fileSystemMagic: UInt32
    package var sealedAt: Int64
    /// Last page only: the inode the record was written for.
    package var inode: UInt64 = 0
    /// Last page only: the page was appended but the seal not yet finished.
    package var pending = false

    package var version: UInt16 { placement == .lastPage ? 2 : 1 }

    /// The bytes of the file that belong to its user.
    package var usableSize: Int { placement == .lastPage ? fileSize - SealedFile.pageSize : fileSize }

    /// Where the record lives, for messages.
    package var location: String {
        placement == .lastPage ? "the seal record in the file's last page" : "the seal record (\(Self.attributeName))"
    }

    package func encoded() -> [UInt8] {
        var flags: UInt32 = extentsVerified ? 1 : 0
        if placement == .lastPage { flags |= 2 | (pending ? 4 : 0) }
        return .record(Self.size) { w in
            w.store(Self.magic, at: 0)
            w.store(version, at: 8)
            w.store(UInt16(Self.size), at: 10)
            w.store(flags, at: 12)
            w.store(UInt64(fileSize), at: 16)
            w.store(UInt64(extentCount), at: 24)
            w.store(digest, at: 32)
            w.store(fileSystemMagic, at: 36)
            w.store(sealedAt, at: 40)
            if placement == .lastPage { w.store(inode, at: 48) }
            w.storeChecksum(of: 0..<60, at: 60)
        }
    }

    /// Decodes a record found at `placement`, or explains why it cannot be trusted.
    package static func decode(_ b: [UInt8], placement: SealPlacement, path: FilePath?) throws(PMemError) -> SealRecord {
        switch parse(b, placement: placement) {
        case .success(let record): return record
        case .failure(let why):
            let place = placement == .lastPage ? "in the file's last page" : "(\(attributeName))"
            throw PMemError(.sealRecordCorrupt, "the seal record \(place) cannot be trusted: \(why.reason); unseal and seal the file again if its contents are known to be good", path: path)
        }
    }

    /// Whether the bytes begin like a seal record of the last-page form: the
    /// magic and version 2. Anything else there is user data, not a seal.
    package static func looksLikeLastPageRecord(_ b: [UInt8]) -> Bool {
        b.count >= 10 && b.withUnsafeBytes { LittleEndianReader($0).matches(magic, at: 0) && LittleEndianReader($0).load(UInt16.self, at: 8) == 2 }
    }

    package struct Damage: Error { var reason: String }

    private static func parse(_ b: [UInt8], placement: SealPlacement) -> Result<SealRecord, Damage> {
        guard b.count == size else { return .failure(Damage(reason: "the record is \(b.count) bytes, not \(size)")) }
        guard Array(b[0..<8]) == magic else { return .failure(Damage(reason: "bad magic")) }
        let expected: UInt16 = placement == .lastPage ? 2 : 1
        return b.withUnsafeBytes { bytes in
            let p = LittleEndianReader(bytes)
            let version = p.load(UInt16.self, at: 8)
            guard version == expected else {
                return .failure(Damage(reason: "version \(version) where this library writes version \(expected) (\(version > 2 ? "a newer library made it" : "it belongs to the other placement"))"))
            }
            let stored = p.load(UInt32.self, at: 60), actual = p.checksum(of: 0..<60)
            guard stored == actual else { return .failure(Damage(reason: "checksum mismatch (stored \(stored), computed \(actual))")) }
            let recordSize = p.load(UInt16.self, at: 10)
            guard recordSize == size else { return .failure(Damage(reason: "the record says it is \(recordSize) bytes, not \(size)")) }
            let flags = p.load(UInt32.self, at: 12)
            let known: UInt32 = placement == .lastPage ? 7 : 1
            guard flags & ~known == 0, placement != .lastPage || flags & 2 != 0 else {
                return .failure(Damage(reason: "unknown flags \(flags)"))
            }
            let reserved = placement == .lastPage ? 56..<60 : 48..<60
            guard p.isZero(reserved) else { return .failure(Damage(reason: "reserved bytes are not zero")) }
            guard let fileSize = Int(exactly: p.load(UInt64.self, at: 16)), let extentCount = Int(exactly: p.load(UInt64.self, at: 24))
            else { return .failure(Damage(reason: "the file size or extent count is out of range")) }
            return .success(SealRecord(
                placement: placement,
                extentsVerified: flags & 1 != 0,
                fileSize: fileSize,
                extentCount: extentCount,
                digest: p.load(UInt32.self, at: 32),
                fileSystemMagic: p.load(UInt32.self, at: 36),
                sealedAt: p.load(Int64.self, at: 40),
                inode: placement == .lastPage ? p.load(UInt64.self, at: 48) : 0,
                pending: flags & 4 != 0))
        }
    }
}
