import Glibc
package import PMemMapping
import PMem
import PMemSystem

/// A simulated x86 ADR persistence domain for one region of memory (a pool
/// file's mapping), for crash testing (../docs/FORMAT.md; DESIGN "The
/// persistence model").
///
/// Code under test keeps storing into the real memory (the *working image*).
/// The domain keeps a separate *media image*: a cache line reaches it only
/// when it is flushed and a fence follows; the line's content is the one it
/// had when it was flushed. Until then any stored 8-byte word may or may not
/// have reached the media (a cache line can be evicted at any time), so the
/// crash images at a fence are: the media alone, the working image whole,
/// random mixes of the two at 8-byte granularity, random subsets of the
/// flushed-but-unfenced lines (a flushed line is written back whole, in no
/// particular order with the others), and structured images random mixes
/// almost never give (each flushed line alone, all but one, prefixes, a large
/// non-temporal copy one word short).
///
/// Threads may share a domain: each has its own flushed-but-unfenced lines
/// (a fence orders only its own CPU's flushes), and crash images include
/// random subsets of every thread's. The fence hook runs under the domain's
/// lock, so other threads' flushes and fences wait for it.
package final class SimulatedPersistenceDomain: @unchecked Sendable {
    package private(set) var base: UnsafeRawPointer?
    package private(set) var size = 0
    /// What would survive a power cut now.
    package private(set) var media: [UInt8] = []
    /// Flushed lines (offset, content at flush time, the flush's number),
    /// not yet fenced, per thread.
    private var pendingByThread: [UInt: [Pending]] = [:]
    /// Every thread's pending lines, in the order they were flushed.
    private var pending: [Pending] { pendingByThread.values.flatMap { $0 }.sorted { $0.flush < $1.flush } }
    private typealias Pending = (offset: Int, bytes: [UInt8], flush: Int, nonTemporal: Bool)
    /// Flush calls so far, and per line of the media the number of the flush
    /// whose content it holds: a line's write-backs land in the order they
    /// were made, so one flushed earlier (by another thread, say, before this
    /// one stored again) never lands over one flushed later. (On an `msync`
    /// path the pages' write-backs are ordered the same way.)
    private var flushCount = 0
    private var mediaFlush: [Int] = []
    /// Pending flushes per line, of every thread: a flush of a line that
    /// holds what the media holds, with none pending, changes nothing and
    /// is not recorded (recovery flushes a whole file on the msync path).
    private var pendingPerLine: [Int32] = []
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Called at every fence, before the flushed lines reach the media.
    package var beforeFence: ((SimulatedPersistenceDomain) -> Void)?
    /// Called at every flush (and flushing copy), before it is recorded: a
    /// moment between fences (a kill stored and flushed, say, before the
    /// record that follows it is written), for process deaths.
    package var beforeFlush: ((SimulatedPersistenceDomain) -> Void)?
    package private(set) var fences = 0

    package init() {
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(mutex, &attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    private static var thread: UInt { UInt(pthread_self()) }

    /// Starts modelling `size` bytes at `base`, whose current contents are
    /// taken as already durable.
    package func attach(base: UnsafeRawPointer, size: Int) {
        attach(base: base, size: size, media: Array(UnsafeRawBufferPointer(start: base, count: size)))
    }

    /// Starts modelling `size` bytes at `base` whose durable contents are
    /// `media`, not what memory holds: the state a process death leaves,
    /// where the cache (or the page cache) still holds every store the dead
    /// process made and the media only what was made durable. Code run on
    /// `base` then reads the cache, as the next opener does.
    package func attach(base: UnsafeRawPointer, size: Int, media: [UInt8]) {
        precondition(media.count == size)
        self.base = base
        self.size = size
        self.media = media
        mediaFlush = [Int](repeating: 0, count: (size + 63) / 64)
        pendingPerLine = [Int32](repeating: 0, count: (size + 63) / 64)
        pendingByThread.removeAll()
    }

    /// Records a flushed piece of a line unless it would change nothing.
    private func addPending(_ thread: UInt, _ offset: Int, _ count: Int, nonTemporal: Bool) {
        guard let base else { return }
        let line = offset / 64
        if pendingPerLine[line] == 0,
           media.withUnsafeBytes({ memcmp($0.baseAddress! + offset, base + offset, count) }) == 0 { return }
        pendingPerLine[line] += 1
        pendingByThread[thread, default: []].append((offset, Array(UnsafeRawBufferPointer(start: base + offset, count: count)), flushCount, nonTemporal))
    }

    /// A persistence table that routes a mapping's flushes, fences,
    /// flushing copies and non-temporal stores here, for a CPU whose pools
    /// stream their in-place words and copy large log payloads in one
    /// checksumming pass: the branches a DAX user on such a CPU runs.
    package var calls: PersistenceCalls { calls(word: .streamed, checksummedCopies: true) }

    /// The table for a CPU that persists in-place words with `word`, and,
    /// without `checksummedCopies`, one without the one-pass copy (its
    /// pools copy large payloads with libpmem2's flushing copy instead).
    package func calls(word: WordPersistence, checksummedCopies: Bool) -> PersistenceCalls {
        let copyAndFlush: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void = { [self] destination, source, count in
            destination.copyMemory(from: source, byteCount: count)
            storedNonTemporally(destination, count)
        }
        let copy: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int, MemoryFlags) -> Void = { [self] destination, source, count, flags in
            destination.copyMemory(from: source, byteCount: count)
            finish(destination, count, flags)
        }
        let move: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int, MemoryFlags) -> Void = { [self] destination, source, count, flags in
            memmove(destination, source, count)
            finish(destination, count, flags)
        }
        let set: @Sendable (UnsafeMutableRawPointer, UInt8, Int, MemoryFlags) -> Void = { [self] destination, byte, count, flags in
            destination.initializeMemory(as: UInt8.self, repeating: byte, count: count)
            finish(destination, count, flags)
        }
        let storeWord: @Sendable (UnsafeMutableRawPointer, UInt64) -> Void = { [self] word, value in
            word.storeBytes(of: value, as: UInt64.self)
            storedNonTemporally(word, 8)
        }
        typealias Checksummed = @Sendable (UnsafeMutableRawPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int) -> (UInt32, UInt32, UInt32)?
        let oneCopy: Checksummed = { [self] destination, head, data, cached in
            guard let sums = CRC32C.copyThreeParts(into: destination, head: head, data: data, throughCache: cached) else { return nil }
            let end = (data.count + 7) & ~7 // the last word zero-padded
            if end > cached { storedNonTemporally(destination + cached, end - cached) }
            return sums
        }
        let noCopy: Checksummed = { _, _, _, _ in nil }
        return PersistenceCalls(
            flush: { [self] in flush($0, $1) }, drain: { [self] in drain() },
            copyAndFlush: copyAndFlush, copy: copy, move: move, set: set, storeWordNonTemporally: storeWord,
            copyChecksummed: checksummedCopies ? oneCopy : noCopy,
            flushesLines: true, chooseWordPersistence: { _, _ in word })
    }

    /// A persistence table for byte granularity (eADR platforms, CXL
    /// devices with global persistent flush; libpmem2's
    /// `PMEM2_GRANULARITY_BYTE`): the caches are in the persistence domain,
    /// so a flush does nothing, and a store may be durable at any moment
    /// after it is made, word by word in no particular order (the pool must
    /// not rely on the CPU's store order, which this model cannot see), until
    /// a fence makes every store before it durable. Non-temporal stores are
    /// stores like any other here.
    package var byteCalls: PersistenceCalls {
        let fence: @Sendable () -> Void = { [self] in fenceEverything() }
        let copy: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int, MemoryFlags) -> Void = { destination, source, count, flags in
            destination.copyMemory(from: source, byteCount: count)
            if !flags.contains(.noFlush) && !flags.contains(.noDrain) { fence() }
        }
        let move: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int, MemoryFlags) -> Void = { destination, source, count, flags in
            memmove(destination, source, count)
            if !flags.contains(.noFlush) && !flags.contains(.noDrain) { fence() }
        }
        let set: @Sendable (UnsafeMutableRawPointer, UInt8, Int, MemoryFlags) -> Void = { destination, byte, count, flags in
            destination.initializeMemory(as: UInt8.self, repeating: byte, count: count)
            if !flags.contains(.noFlush) && !flags.contains(.noDrain) { fence() }
        }
        return PersistenceCalls(
            flush: { _, _ in }, drain: fence,
            copyAndFlush: { $0.copyMemory(from: $1, byteCount: $2) }, copy: copy, move: move, set: set,
            storeWordNonTemporally: { $0.storeBytes(of: $1, as: UInt64.self) },
            copyChecksummed: { destination, head, data, cached in
                CRC32C.copyThreeParts(into: destination, head: head, data: data, throughCache: cached)
            },
            flushesLines: true, chooseWordPersistence: { _, _ in .flushed })
    }

    /// A fence at byte granularity: every store made so far is durable.
    private func fenceEverything() {
        locked {
            guard let base else { return }
            beforeFence?(self)
            media.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: base, count: size)) }
            fences += 1
        }
    }

    /// The same calls, declared as page-granularity ones (as an `msync`
    /// would be): a pool then takes its msync paths, deferred applies
    /// included, with every flush and fence still simulated line by line.
    package var pageCalls: PersistenceCalls {
        var calls = self.calls
        calls.flushesLines = false
        return calls
    }

    /// The end of a copy, move or set made with `flags`: libpmem2 flushes
    /// unless told not to (its copies may be non-temporal: modelled so, the
    /// stricter choice), and fences unless told not to.
    private func finish(_ address: UnsafeRawPointer, _ count: Int, _ flags: MemoryFlags) {
        guard !flags.contains(.noFlush) else { return }
        storedNonTemporally(address, count)
        if !flags.contains(.noDrain) { drain() }
    }

    /// Bytes just written with non-temporal stores (or a flushing copy):
    /// exactly those bytes, not the rest of the lines they share, reach the
    /// media at the next fence, and before it any subset of their 8-byte
    /// words may have (a non-temporal store is written back on its own,
    /// in no order with the others).
    func storedNonTemporally(_ address: UnsafeRawPointer, _ count: Int) {
        locked {
            guard let base, count > 0 else { return }
            beforeFlush?(self)
            let start = address - base
            guard start >= 0, start + count <= size else { return }
            let thread = Self.thread
            flushCount += 1
            var from = start
            while from < start + count {
                let to = min((from & ~63) + 64, start + count)
                addPending(thread, from, to - from, nonTemporal: true)
                from = to
            }
        }
    }

    package func flush(_ address: UnsafeRawPointer, _ count: Int) {
        locked {
            guard let base, count > 0 else { return }
            beforeFlush?(self)
            let start = address - base
            guard start >= 0, start + count <= size else { return } // not ours (before attach)
            var line = start & ~63
            let thread = Self.thread
            flushCount += 1
            while line < start + count {
                addPending(thread, line, min(64, size - line), nonTemporal: false)
                line += 64
            }
        }
    }

    package func drain() {
        locked {
            beforeFence?(self)
            let thread = Self.thread
            media.withUnsafeMutableBytes { m in
                for (offset, bytes, flush, _) in pendingByThread[thread] ?? [] {
                    pendingPerLine[offset / 64] -= 1
                    guard flush >= mediaFlush[offset / 64] else { continue }
                    bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: m[offset..<(offset + $0.count)]).copyMemory(from: $0) }
                    mediaFlush[offset / 64] = flush
                }
            }
            pendingByThread[thread] = nil
            fences += 1
        }
    }

    /// Everything stored so far, durable or not.
    package var working: [UInt8] { Array(UnsafeRawBufferPointer(start: base!, count: size)) }

    /// The crash images of this moment: the media, the working image,
    /// `mixes` seeded random mixes of the two at 8-byte granularity, and
    /// `mixes` random subsets of the pending flushed lines over the media.
    /// With `structured` above 0, also the structured images random mixes
    /// almost never give, at most `structured` of each kind.
    package func crashImages(mixes: Int, structured: Int = 0, using generator: inout some RandomNumberGenerator) -> [[UInt8]] {
        crashStates(mixes: mixes, structured: structured, using: &generator).map(\.image)
    }

    /// The crash images of this moment (``crashImages(mixes:using:)``), each
    /// with a 64-bit hash of its whole contents: equal images have equal
    /// hashes, whatever the fence, so that a checker can count the distinct
    /// states it saw (``CrashImageHash``).
    package func crashStates(mixes: Int, structured: Int = 0, using generator: inout some RandomNumberGenerator) -> [(image: [UInt8], state: UInt64)] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let images = unhashedCrashImages(mixes: mixes, structured: structured, using: &generator)
        // Only the words that differ from the working image, or that a
        // pending piece covers, can differ from the media: the hash of the
        // media, corrected in those words.
        var candidates = Set(differingWords(working))
        for piece in pending { for w in stride(from: piece.offset & ~7, to: piece.offset + piece.bytes.count, by: 8) { candidates.insert(w) } }
        let words = candidates.filter { $0 + 8 <= size }.sorted()
        let mediaHash = CrashImageHash.of(media)
        return images.map { image in
            var h = mediaHash
            image.withUnsafeBytes { i in
                media.withUnsafeBytes { m in
                    for w in words {
                        let new = i.loadUnaligned(fromByteOffset: w, as: UInt64.self), old = m.loadUnaligned(fromByteOffset: w, as: UInt64.self)
                        if new != old { h = h &+ CrashImageHash.word(w, new) &- CrashImageHash.word(w, old) }
                    }
                }
            }
            return (image, h)
        }
    }

    /// The offsets of the 8-byte words in which `work` and the media differ.
    private func differingWords(_ work: [UInt8]) -> [Int] {
        var differing: [Int] = []
        media.withUnsafeBytes { m in
            work.withUnsafeBytes { w in
                var i = 0
                while i + 8 <= size {
                    if m.loadUnaligned(fromByteOffset: i, as: UInt64.self) != w.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                        differing.append(i)
                    }
                    i += 8
                }
            }
        }
        return differing
    }

    /// Copies the bytes `range` (of the file) of a pending piece into `image`.
    private func place(_ piece: Pending, _ range: Range<Int>, into image: UnsafeMutableRawBufferPointer) {
        piece.bytes.withUnsafeBytes { b in
            UnsafeMutableRawBufferPointer(rebasing: image[range])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: b[(range.lowerBound - piece.offset)..<(range.upperBound - piece.offset)]))
        }
    }

    private func unhashedCrashImages(mixes: Int, structured: Int, using generator: inout some RandomNumberGenerator) -> [[UInt8]] {
        let work = working
        let pending = self.pending
        let differing = differingWords(work)
        var images = [media, work]
        if structured > 0 { images += structuredImages(pending.filter { $0.flush >= mediaFlush[$0.offset / 64] }, differing, work, limit: structured) }
        if !pending.isEmpty {
            for _ in 0..<mixes {
                var image = media
                image.withUnsafeMutableBytes { out in
                    for piece in pending where piece.flush >= mediaFlush[piece.offset / 64] {
                        if piece.nonTemporal {
                            // Word by word: any subset of a non-temporal piece's words.
                            var from = piece.offset
                            while from < piece.offset + piece.bytes.count {
                                let to = min((from & ~7) + 8, piece.offset + piece.bytes.count)
                                if Bool.random(using: &generator) { place(piece, from..<to, into: out) }
                                from = to
                            }
                        } else if Bool.random(using: &generator) {
                            place(piece, piece.offset..<(piece.offset + piece.bytes.count), into: out)
                        }
                    }
                }
                images.append(image)
            }
        }
        guard !differing.isEmpty else { return images }
        for _ in 0..<mixes {
            var image = media
            image.withUnsafeMutableBytes { out in
                work.withUnsafeBytes { w in
                    for i in differing where Bool.random(using: &generator) {
                        out.storeBytes(of: w.loadUnaligned(fromByteOffset: i, as: UInt64.self), toByteOffset: i, as: UInt64.self)
                    }
                }
            }
            images.append(image)
        }
        return images
    }
}

extension SimulatedPersistenceDomain {
    /// The crash images random mixes almost never give, each over the
    /// media: each pending flushed line alone, all but one, prefixes in flush
    /// order; the largest non-temporal copy with all its words but the
    /// first, or but the last (a large record one word short of complete);
    /// of the stored but unflushed words, all but the last, all but the
    /// first, the lower half, the first alone and the last alone. Each kind
    /// at most `limit` times, at evenly spread positions.
    private func structuredImages(_ pending: [Pending], _ differing: [Int], _ work: [UInt8], limit: Int) -> [[UInt8]] {
        var images: [[UInt8]] = []
        // `pieces` in flush order (a line's write-backs land in order); the
        // word at `skipped.word` of the piece flushed as `skipped.flush` left out.
        func image(_ pieces: some Sequence<Pending>, skipping skipped: (flush: Int, word: Int)? = nil) -> [UInt8] {
            var image = media
            image.withUnsafeMutableBytes { out in
                for piece in pieces {
                    var from = piece.offset
                    let end = piece.offset + piece.bytes.count
                    while from < end {
                        let to = min((from & ~7) + 8, end)
                        if piece.flush != skipped?.flush || from & ~7 != skipped?.word { place(piece, from..<to, into: out) }
                        from = to
                    }
                }
            }
            return image
        }
        let n = pending.count
        if n >= 2 {
            for i in Self.spread(n, limit) { images.append(image([pending[i]])) }
            for i in Self.spread(n, limit) { images.append(image(pending.indices.lazy.filter { $0 != i }.map { pending[$0] })) }
            for k in Self.spread(n - 1, limit) { images.append(image(pending[...k])) }
        }
        // The largest non-temporal copy (its lines share one flush number).
        var copies: [Int: (bytes: Int, first: Int, last: Int)] = [:]
        for piece in pending where piece.nonTemporal {
            let first = piece.offset & ~7, last = (piece.offset + piece.bytes.count - 1) & ~7
            let c = copies[piece.flush] ?? (0, first, last)
            copies[piece.flush] = (c.bytes + piece.bytes.count, min(c.first, first), max(c.last, last))
        }
        if let (flush, copy) = copies.max(by: { $0.value.bytes < $1.value.bytes }), copy.first != copy.last {
            images.append(image(pending, skipping: (flush, copy.first)))
            images.append(image(pending, skipping: (flush, copy.last)))
        }
        if differing.count >= 2 {
            func words(_ chosen: some Sequence<Int>) -> [UInt8] {
                var image = media
                image.withUnsafeMutableBytes { out in
                    work.withUnsafeBytes { w in
                        for i in chosen { out.storeBytes(of: w.loadUnaligned(fromByteOffset: i, as: UInt64.self), toByteOffset: i, as: UInt64.self) }
                    }
                }
                return image
            }
            let kinds: [ArraySlice<Int>] = [differing.dropLast(), differing.dropFirst(), differing.prefix(differing.count / 2),
                                             differing.prefix(1), differing.suffix(1)]
            for chosen in kinds.prefix(limit + 1) { images.append(words(chosen)) }
        }
        return images
    }

    /// Up to `limit` indices of `0..<count`, evenly spread, the first and
    /// (with a limit above 1) the last among them.
    static func spread(_ count: Int, _ limit: Int) -> [Int] {
        guard count > limit else { return Array(0..<count) }
        guard limit > 1 else { return [0] }
        return (0..<limit).map { $0 * (count - 1) / (limit - 1) }
    }
}

/// A 64-bit hash of a whole image that is the sum of a hash of each 8-byte
/// word and its offset: an image that differs from another in a few words
/// is hashed from the other's hash in those words alone.
package enum CrashImageHash {
    /// The hash of the word `value` at byte `offset`.
    @inline(__always)
    package static func word(_ offset: Int, _ value: UInt64) -> UInt64 {
        mix(value &+ mix(UInt64(truncatingIfNeeded: offset) &+ 0x9E37_79B9_7F4A_7C15))
    }

    /// The hash of all of `bytes` (a tail shorter than a word is ignored:
    /// images are whole files, multiples of a page).
    package static func of(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { b in
            var h: UInt64 = 0
            var i = 0
            while i + 8 <= b.count {
                h = h &+ word(i, b.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            return h
        }
    }

    /// SplitMix64's finalizer.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
