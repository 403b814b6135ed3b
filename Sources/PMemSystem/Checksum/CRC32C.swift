import CCRC32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
/// every metadata record this library writes. With the SSE4.2 `crc32`
/// instruction where the CPU has it (CCRC32C), over long inputs folded with
/// AVX-512 carry-less multiplies where the CPU has those too, else
/// table-driven, eight bytes per step ("slicing-by-8"), which is also the
/// reference the tests compare the others against. All give the same values.
package enum CRC32C {
    @inline(__always)
    package static var hardwareAvailable: Bool { ccrc32c_cpu_features() & 1 != 0 }

    /// Whether long inputs are folded with VPCLMULQDQ (AVX-512).
    @inline(__always)
    package static var foldAvailable: Bool { ccrc32c_cpu_features() & 2 != 0 }

    /// The shortest part of ``threeParts(_:)`` that is folded rather than
    /// run side by side with the other two through the crc32 instruction:
    /// below it, the single chain's 3-cycle latency costs more than the fold
    /// saves.
    package static let foldMinimumPart = 320

    package static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()

    /// Checks `count` little-endian 8-byte words at `words`, each a 32-bit
    /// value in its low half and, in its high half, the CRC-32C of the 8
    /// bytes `key ++ value` (32-bit little-endian each), word i's key being
    /// `firstKey + i`. Stores each value into `values[i]`; returns `count`,
    /// or the index of the first word whose CRC does not match. With the
    /// crc32 instruction, one call for the lot, not one per word.
    package static func checkKeyedWords(_ words: UnsafeRawPointer, firstKey: Int, count: Int,
                                        values: UnsafeMutablePointer<Int>, hardware: Bool = hardwareAvailable) -> Int {
        if hardware {
            return values.withMemoryRebound(to: Int64.self, capacity: count) {
                ccrc32c_check_keyed_words(words, UInt32(truncatingIfNeeded: firstKey), count, $0)
            }
        }
        for i in 0..<count {
            let word = UInt64(littleEndian: words.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
            var message = (UInt32(truncatingIfNeeded: firstKey + i).littleEndian, UInt32(truncatingIfNeeded: word).littleEndian)
            let crc = withUnsafeBytes(of: &message) { tableChecksum($0) }
            guard UInt32(truncatingIfNeeded: word >> 32) == crc else { return i }
            values[i] = Int(UInt32(truncatingIfNeeded: word))
        }
        return count
    }

    /// The CRC-32C of `bytes`, continuing from `crc` (0 to start).
    /// `folding: false` keeps to the crc32 instruction (for the tests).
    package static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0,
                                 folding: Bool = foldAvailable) -> UInt32 {
        guard hardwareAvailable, let base = bytes.baseAddress else { return tableChecksum(bytes, continuing: crc) }
        if folding && foldAvailable { return ~ccrc32c_fold_update(~crc, base, bytes.count) }
        return ~ccrc32c_hardware_update(~crc, base, bytes.count)
    }

    /// The table-driven CRC-32C (the fallback, and the tests' reference).
    package static func tableChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        var i = 0
        let n = bytes.count
        tables.withUnsafeBufferPointer { t in
            let t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3], t4 = t[4], t5 = t[5], t6 = t[6], t7 = t[7]
            while n - i >= 8 {
                let lo = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
                let hi = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                c = t7[Int(lo & 0xFF)] ^ t6[Int((lo >> 8) & 0xFF)] ^ t5[Int((lo >> 16) & 0xFF)] ^ t4[Int(lo >> 24)]
                    ^ t3[Int(hi & 0xFF)] ^ t2[Int((hi >> 8) & 0xFF)] ^ t1[Int((hi >> 16) & 0xFF)] ^ t0[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = (c >> 8) ^ t0[Int((c ^ UInt32(bytes[i])) & 0xFF)]
                i += 1
            }
        }
        return ~c
    }

    /// The CRC-32C of each of three parts of `bytes`: the first two of
    /// `⌊count / 24⌋ × 8` bytes each, the third the rest. With the
    /// instruction, the three are computed side by side (about three times
    /// the speed of one CRC over the whole); the parts and their checksums
    /// are the same either way. Parts of ``foldMinimumPart`` and more are
    /// folded one after the other instead, faster still.
    package static func threeParts(_ bytes: UnsafeRawBufferPointer) -> (UInt32, UInt32, UInt32) {
        let part = bytes.count / 24 * 8
        guard hardwareAvailable, part > 0, !(foldAvailable && part >= foldMinimumPart), let base = bytes.baseAddress else {
            return (checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<part])),
                    checksum(UnsafeRawBufferPointer(rebasing: bytes[part..<(2 * part)])),
                    checksum(UnsafeRawBufferPointer(rebasing: bytes[(2 * part)...])))
        }
        var state: (UInt32, UInt32, UInt32) = (~0, ~0, ~0)
        withUnsafeMutableBytes(of: &state) {
            ccrc32c_hardware_update3($0.baseAddress!.assumingMemoryBound(to: UInt32.self), base, base + part, base + 2 * part, part / 8)
        }
        let third = ccrc32c_hardware_update(state.2, base + 3 * part, bytes.count - 3 * part)
        return (~state.0, ~state.1, ~third)
    }

    /// ``threeParts(_:)`` of `head ++ data ++ padding zero bytes`, read from
    /// where the pieces are rather than from one contiguous copy: a commit
    /// record's body copied with non-temporal stores is no longer in the
    /// cache, and reading it back would cost a trip to the media. `head` is a
    /// whole number of 8-byte words; `padding` is less than 8.
    package static func threeParts(head: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer, padding: Int) -> (UInt32, UInt32, UInt32) {
        precondition(head.count % 8 == 0 && padding >= 0 && padding < 8)
        let h = head.count, n = data.count
        let total = h + n + padding
        let part = total / 24 * 8
        guard hardwareAvailable, part >= h, h > 0, !(foldAvailable && part >= foldMinimumPart),
              let hb = head.baseAddress, let db = data.baseAddress else {
            return (bodyChecksum(head, data, from: 0, to: part),
                    bodyChecksum(head, data, from: part, to: 2 * part),
                    bodyChecksum(head, data, from: 2 * part, to: total))
        }
        // Stream a reads the head, then all three run side by side over the
        // data until a reaches the end of part one; b and c then finish alone.
        var state: (UInt32, UInt32, UInt32) = (ccrc32c_hardware_update(~0, hb, h), ~0, ~0)
        withUnsafeMutableBytes(of: &state) {
            ccrc32c_hardware_update3($0.baseAddress!.assumingMemoryBound(to: UInt32.self),
                                     db, db + (part - h), db + (2 * part - h), (part - h) / 8)
        }
        let second = ccrc32c_hardware_update(state.1, db + (2 * part - 2 * h), h)
        var third = ccrc32c_hardware_update(state.2, db + (3 * part - 2 * h), n - (3 * part - 2 * h))
        let zeros: UInt64 = 0
        withUnsafeBytes(of: zeros) { third = ccrc32c_hardware_update(third, $0.baseAddress!, padding) }
        return (~state.0, ~second, ~third)
    }

    /// Copies `data` to `destination` with non-temporal 8-byte stores, its
    /// last word zero-padded, and returns ``threeParts(head:data:padding:)``
    /// of `head ++ data ++ that padding`, in one pass over the data: each
    /// word is loaded once, checksummed and stored, where a copy and then a
    /// checksum read it twice. No line of the copy needs a flush (the
    /// stores bypass the cache); a fence makes it durable. The first
    /// `throughCache` bytes of the destination (a multiple of 8) are stored
    /// through the cache instead, for the caller to flush: the rest of a
    /// line it flushes anyway. nil, having done nothing, without the crc32
    /// instruction, with a `destination` or a head that is not 8-byte
    /// aligned, or a `throughCache` that is not a multiple of 8. Parts of
    /// ``foldMinimumPart`` and more are folded, and their whole lines stored
    /// 64 bytes at a time (`folding: false` keeps to the crc32 instruction
    /// and 8-byte stores, for the tests).
    package static func copyThreeParts(into destination: UnsafeMutableRawPointer, head: UnsafeRawBufferPointer,
                                       data: UnsafeRawBufferPointer, throughCache: Int = 0,
                                       folding: Bool = foldAvailable) -> (UInt32, UInt32, UInt32)? {
        guard hardwareAvailable, head.count % 8 == 0, Int(bitPattern: destination) % 8 == 0,
              throughCache >= 0, throughCache % 8 == 0,
              let hb = head.baseAddress, let db = data.baseAddress else { return nil }
        var sums: (UInt32, UInt32, UInt32) = (0, 0, 0)
        let part = (head.count + ((data.count + 7) & ~7)) / 24 * 8
        withUnsafeMutableBytes(of: &sums) {
            let out = $0.baseAddress!.assumingMemoryBound(to: UInt32.self)
            if folding && foldAvailable && part >= foldMinimumPart {
                ccrc32c_copy_body_fold(out, destination, hb, head.count, db, data.count, throughCache)
            } else {
                ccrc32c_copy_body_nt(out, destination, hb, head.count, db, data.count, throughCache)
            }
        }
        return sums
    }

    /// The CRC-32C of bytes `from..<to` of `head ++ data ++ zeros`.
    private static func bodyChecksum(_ head: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer, from: Int, to: Int) -> UInt32 {
        var crc: UInt32 = 0
        let h = head.count, n = data.count
        if from < h { crc = checksum(UnsafeRawBufferPointer(rebasing: head[from..<min(to, h)]), continuing: crc) }
        let ds = max(from, h) - h, de = min(to, h + n) - h
        if ds < de { crc = checksum(UnsafeRawBufferPointer(rebasing: data[ds..<de]), continuing: crc) }
        let zs = max(from, h + n), ze = to
        if zs < ze {
            let zeros: UInt64 = 0
            withUnsafeBytes(of: zeros) { crc = checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(ze - zs)]), continuing: crc) }
        }
        return crc
    }

    package static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }
}
