import SystemPackage

/// The seal of a block-map-immutable file, stored in the extended attribute
/// `user.swift-pmem.seal`. The layout (version 1, 64 bytes, little-endian)
/// is documented in the DocC article "Sealed-File Format":
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `"PMEMSEAL"` |
/// | 8 | 2 | version (1) |
/// | 10 | 2 | record size (64) |
/// | 12 | 4 | flags: bit 0 = extents verified with FIEMAP |
/// | 16 | 8 | file size in bytes |
/// | 24 | 8 | number of normalized extents |
/// | 32 | 4 | extent-map digest (CRC-32C) |
/// | 36 | 4 | file-system magic (`statfs.f_type`) at sealing |
/// | 40 | 8 | sealing time, seconds since 1970 |
/// | 48 | 12 | reserved, zero |
/// | 60 | 4 | CRC-32C of bytes 0..<60 |
struct SealRecord: Sendable, Equatable {
    static let attributeName = "user.swift-pmem.seal"
    static let magic: [UInt8] = Array("PMEMSEAL".utf8)
    static let version: UInt16 = 1
    static let size = 64

    var extentsVerified: Bool
    var fileSize: Int
    var extentCount: Int
    var digest: UInt32
    var fileSystemMagic: UInt32
    var sealedAt: Int64

    func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.size)
        b.replaceSubrange(0..<8, with: Self.magic)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: Self.version.littleEndian, toByteOffset: 8, as: UInt16.self)
            p.storeBytes(of: UInt16(Self.size).littleEndian, toByteOffset: 10, as: UInt16.self)
            p.storeBytes(of: UInt32(extentsVerified ? 1 : 0).littleEndian, toByteOffset: 12, as: UInt32.self)
            p.storeBytes(of: UInt64(fileSize).littleEndian, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: UInt64(extentCount).littleEndian, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: digest.littleEndian, toByteOffset: 32, as: UInt32.self)
            p.storeBytes(of: fileSystemMagic.littleEndian, toByteOffset: 36, as: UInt32.self)
            p.storeBytes(of: sealedAt.littleEndian, toByteOffset: 40, as: Int64.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<60]))
            p.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
        }
        return b
    }

    /// Decodes a record, or explains why it cannot be trusted.
    static func decode(_ b: [UInt8], path: FilePath?) throws(PMemError) -> SealRecord {
        switch parse(b) {
        case .success(let record): return record
        case .failure(let why):
            throw PMemError(.sealRecordCorrupt, "the seal record (\(attributeName)) cannot be trusted: \(why.reason); unseal and seal the file again if its contents are known to be good", path: path)
        }
    }

    struct Damage: Error { var reason: String }

    private static func parse(_ b: [UInt8]) -> Result<SealRecord, Damage> {
        guard b.count == size else { return .failure(Damage(reason: "the record is \(b.count) bytes, not \(size)")) }
        guard Array(b[0..<8]) == magic else { return .failure(Damage(reason: "bad magic")) }
        return b.withUnsafeBytes { p in
            let version = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
            guard version == Self.version else { return .failure(Damage(reason: "unknown version \(version) (this library reads version \(Self.version))")) }
            let stored = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 60, as: UInt32.self))
            let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<60]))
            guard stored == actual else { return .failure(Damage(reason: "checksum mismatch (stored \(stored), computed \(actual))")) }
            let recordSize = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 10, as: UInt16.self))
            guard recordSize == size else { return .failure(Damage(reason: "the record says it is \(recordSize) bytes, not \(size)")) }
            let flags = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            guard flags & ~1 == 0 else { return .failure(Damage(reason: "unknown flags \(flags)")) }
            guard p[48..<60].allSatisfy({ $0 == 0 }) else { return .failure(Damage(reason: "reserved bytes are not zero")) }
            guard let fileSize = Int(exactly: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))),
                  let extentCount = Int(exactly: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
            else { return .failure(Damage(reason: "the file size or extent count is out of range")) }
            return .success(SealRecord(
                extentsVerified: flags & 1 != 0,
                fileSize: fileSize,
                extentCount: extentCount,
                digest: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt32.self)),
                fileSystemMagic: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 36, as: UInt32.self)),
                sealedAt: Int64(littleEndian: p.loadUnaligned(fromByteOffset: 40, as: Int64.self))))
        }
    }
}
