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
        var b = [UInt8](repeating: 0, count: Self.size)
        b.replaceSubrange(0..<8, with: Self.magic)
        var flags: UInt32 = extentsVerified ? 1 : 0
        if placement == .lastPage { flags |= 2 | (pending ? 4 : 0) }
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt16.self)
            p.storeBytes(of: UInt16(Self.size).littleEndian, toByteOffset: 10, as: UInt16.self)
            p.storeBytes(of: flags.littleEndian, toByteOffset: 12, as: UInt32.self)
            p.storeBytes(of: UInt64(fileSize).littleEndian, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: UInt64(extentCount).littleEndian, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: digest.littleEndian, toByteOffset: 32, as: UInt32.self)
            p.storeBytes(of: fileSystemMagic.littleEndian, toByteOffset: 36, as: UInt32.self)
            p.storeBytes(of: sealedAt.littleEndian, toByteOffset: 40, as: Int64.self)
            if placement == .lastPage { p.storeBytes(of: inode.littleEndian, toByteOffset: 48, as: UInt64.self) }
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<60]))
            p.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
        }
        return b
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
        b.count >= 10 && Array(b[0..<8]) == magic && b[8] == 2 && b[9] == 0
    }

    package struct Damage: Error { var reason: String }

    private static func parse(_ b: [UInt8], placement: SealPlacement) -> Result<SealRecord, Damage> {
        guard b.count == size else { return .failure(Damage(reason: "the record is \(b.count) bytes, not \(size)")) }
        guard Array(b[0..<8]) == magic else { return .failure(Damage(reason: "bad magic")) }
        let expected: UInt16 = placement == .lastPage ? 2 : 1
        return b.withUnsafeBytes { p in
            let version = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
            guard version == expected else {
                return .failure(Damage(reason: "version \(version) where this library writes version \(expected) (\(version > 2 ? "a newer library made it" : "it belongs to the other placement"))"))
            }
            let stored = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 60, as: UInt32.self))
            let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<60]))
            guard stored == actual else { return .failure(Damage(reason: "checksum mismatch (stored \(stored), computed \(actual))")) }
            let recordSize = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 10, as: UInt16.self))
            guard recordSize == size else { return .failure(Damage(reason: "the record says it is \(recordSize) bytes, not \(size)")) }
            let flags = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            let known: UInt32 = placement == .lastPage ? 7 : 1
            guard flags & ~known == 0, placement != .lastPage || flags & 2 != 0 else {
                return .failure(Damage(reason: "unknown flags \(flags)"))
            }
            let reserved = placement == .lastPage ? 56..<60 : 48..<60
            guard p[reserved].allSatisfy({ $0 == 0 }) else { return .failure(Damage(reason: "reserved bytes are not zero")) }
            guard let fileSize = Int(exactly: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))),
                  let extentCount = Int(exactly: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
            else { return .failure(Damage(reason: "the file size or extent count is out of range")) }
            return .success(SealRecord(
                placement: placement,
                extentsVerified: flags & 1 != 0,
                fileSize: fileSize,
                extentCount: extentCount,
                digest: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt32.self)),
                fileSystemMagic: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 36, as: UInt32.self)),
                sealedAt: Int64(littleEndian: p.loadUnaligned(fromByteOffset: 40, as: Int64.self)),
                inode: placement == .lastPage ? UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 48, as: UInt64.self)) : 0,
                pending: flags & 4 != 0))
        }
    }
}
