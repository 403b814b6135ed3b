import PMem

/// A small crash-safe key-value store on a failure-atomic pool.
///
/// Layout (all little-endian):
/// - offset 0, the header: magic `PMEMKV01`, entry count (u64), generation (u64);
/// - offset 4096, 1024 slots of 256 bytes: used (u8), key length (u8),
///   value length (u16), CRC-32 of key and value (u32), generation of the
///   last put (u64), key (48 bytes), value (192 bytes).
///
/// A put changes one slot and the header in ONE pool transaction, so after
/// a crash the count, the generation and every slot agree: either the put
/// happened entirely or not at all. `check()` verifies exactly that.
struct KVStore {
    static let magic = Array("PMEMKV01".utf8)
    static let slotCount = 1024, slotSize = 256, slotsOffset = 4096
    static let maxKey = 48, maxValue = 192

    let pool: Pool

    struct Header { var count: Int; var generation: UInt64 }
    struct Slot {
        var key: [UInt8]; var value: [UInt8]; var generation: UInt64
        var crcOK: Bool
    }

    /// Opens the store in `pool`, formatting an empty pool on first use (the
    /// format is itself one atomic write: the header appears whole or not at all).
    init(pool: Pool) throws(PMemError) {
        self.pool = pool
        let head = try pool.read(at: 0, count: 8)
        if head.allSatisfy({ $0 == 0 }) {
            try pool.write(Self.encodeHeader(Header(count: 0, generation: 0)), at: 0)
        } else if head != Self.magic {
            throw PMemError(.notAPool, "the pool does not hold a key-value store", path: pool.path)
        }
    }

    /// The header's two counters, as typed handles into the pool.
    var countField: PoolHandle<UInt64> { get throws(PMemError) { try pool.handle(at: 8) } }
    var generationField: PoolHandle<UInt64> { get throws(PMemError) { try pool.handle(at: 16) } }

    func header() throws(PMemError) -> Header {
        Header(count: Int(try pool.load(countField)), generation: try pool.load(generationField))
    }

    func slot(_ index: Int) throws(PMemError) -> Slot? {
        let raw = try pool.read(at: Self.slotsOffset + index * Self.slotSize, count: Self.slotSize)
        guard raw[0] == 1 else { return nil }
        let keyLength = min(Int(raw[1]), Self.maxKey)
        let valueLength = min(Int(raw[2]) | Int(raw[3]) << 8, Self.maxValue)
        let key = Array(raw[16..<16 + keyLength]), value = Array(raw[64..<64 + valueLength])
        let crc = raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }
        let generation = raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) }
        return Slot(key: key, value: value, generation: generation, crcOK: crc == Self.crc32(key + value))
    }

    /// Where `key` is, or the free slot it would go in (linear probing).
    func find(_ key: [UInt8]) throws(PMemError) -> (index: Int, existing: Slot?) {
        var index = Int(Self.crc32(key) % UInt32(Self.slotCount))
        for _ in 0..<Self.slotCount {
            guard let slot = try slot(index) else { return (index, nil) }
            if slot.key == key { return (index, slot) }
            index = (index + 1) % Self.slotCount
        }
        throw PMemError(.updateTooLarge, "the store is full (\(Self.slotCount) keys)", path: pool.path)
    }

    func get(_ key: [UInt8]) throws(PMemError) -> [UInt8]? { try find(key).existing?.value }

    /// Sets `key` to `value`: one transaction writes the slot and the header.
    /// Returns the new generation.
    @discardableResult
    func put(_ key: [UInt8], _ value: [UInt8]) throws(PMemError) -> UInt64 {
        guard (1...Self.maxKey).contains(key.count), value.count <= Self.maxValue else {
            throw PMemError(.invalidArgument, "keys are 1 to \(Self.maxKey) bytes and values at most \(Self.maxValue)", path: pool.path)
        }
        let (index, existing) = try find(key)
        var header = try header()
        header.generation += 1
        if existing == nil { header.count += 1 }
        var slot = [UInt8](repeating: 0, count: Self.slotSize)
        slot[0] = 1
        slot[1] = UInt8(key.count)
        slot[2] = UInt8(value.count & 0xff); slot[3] = UInt8(value.count >> 8)
        slot.withUnsafeMutableBytes {
            $0.storeBytes(of: Self.crc32(key + value), toByteOffset: 4, as: UInt32.self)
            $0.storeBytes(of: header.generation, toByteOffset: 8, as: UInt64.self)
        }
        slot.replaceSubrange(16..<16 + key.count, with: key)
        slot.replaceSubrange(64..<64 + value.count, with: value)
        let encoded = Self.encodeHeader(header)
        // A body that throws only PMemError: the transaction throws PMemError too.
        try pool.transaction { tx throws(PMemError) in
            tx.write(slot, at: Self.slotsOffset + index * Self.slotSize)
            tx.write(encoded, at: 0)
        }
        return header.generation
    }

    /// Every entry, in slot order.
    func entries() throws(PMemError) -> [Slot] {
        var list: [Slot] = []
        for i in 0..<Self.slotCount { if let s = try slot(i) { list.append(s) } }
        return list
    }

    /// The store's invariants: every slot's checksum holds, the count is the
    /// number of used slots, the generation is the newest slot's, and no key
    /// is stored twice. Returns the problems found (none if intact).
    func check() throws(PMemError) -> [String] {
        let header = try header()
        let list = try entries()
        var problems: [String] = []
        for s in list where !s.crcOK { problems.append("slot for key \(String(decoding: s.key, as: UTF8.self)) fails its checksum") }
        if list.count != header.count { problems.append("the header counts \(header.count) entries, the slots hold \(list.count)") }
        let newest = list.map(\.generation).max() ?? 0
        if newest != header.generation { problems.append("the header's generation is \(header.generation), the newest slot's \(newest)") }
        if Set(list.map(\.key)).count != list.count { problems.append("a key is stored twice") }
        return problems
    }

    static func encodeHeader(_ h: Header) -> [UInt8] {
        var bytes = magic + [UInt8](repeating: 0, count: 16)
        bytes.withUnsafeMutableBytes {
            $0.storeBytes(of: UInt64(h.count), toByteOffset: 8, as: UInt64.self)
            $0.storeBytes(of: h.generation, toByteOffset: 16, as: UInt64.self)
        }
        return bytes
    }

    /// CRC-32 (IEEE), bitwise: the example keeps to the public API.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
