import Glibc
package import PMemMapping
import PMem

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
/// random mixes of the two at 8-byte granularity, and random subsets of the
/// flushed-but-unfenced lines (a flushed line is written back whole, in no
/// particular order with the others).
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
    private typealias Pending = (offset: Int, bytes: [UInt8], flush: Int)
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
    private func addPending(_ thread: UInt, _ offset: Int, _ count: Int) {
        guard let base else { return }
        let line = offset / 64
        if pendingPerLine[line] == 0,
           media.withUnsafeBytes({ memcmp($0.baseAddress! + offset, base + offset, count) }) == 0 { return }
        pendingPerLine[line] += 1
        pendingByThread[thread, default: []].append((offset, Array(UnsafeRawBufferPointer(start: base + offset, count: count)), flushCount))
    }

    /// Persistence calls that route a pool's flushes and fences here.
    package var calls: PersistenceCalls {
        PersistenceCalls(
            flush: { [self] in flush($0, $1) },
            drain: { [self] in drain() },
            copyAndFlush: { [self] in
                $0.copyMemory(from: $1, byteCount: $2)
                flushCopied($0, $2)
            })
    }

    /// The same calls, declared as page-granularity ones (as an `msync`
    /// would be): a pool then takes its msync paths, deferred applies
    /// included, with every flush and fence still simulated line by line.
    package var pageCalls: PersistenceCalls {
        var calls = self.calls
        calls.flushesLines = false
        return calls
    }

    /// A flushing copy's bytes, and only those: libpmem2's non-temporal
    /// stores write exactly the bytes copied, so the rest of a line the copy
    /// covers in part (bytes stored before it, with ordinary stores) is not
    /// made durable by it. (Its small copies store and flush whole lines;
    /// modelling every copy as the non-temporal kind is the stricter choice.)
    func flushCopied(_ address: UnsafeRawPointer, _ count: Int) {
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
                addPending(thread, from, to - from)
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
                addPending(thread, line, min(64, size - line))
                line += 64
            }
        }
    }

    package func drain() {
        locked {
            beforeFence?(self)
            let thread = Self.thread
            media.withUnsafeMutableBytes { m in
                for (offset, bytes, flush) in pendingByThread[thread] ?? [] {
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
    package func crashImages(mixes: Int, using generator: inout some RandomNumberGenerator) -> [[UInt8]] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let work = working
        let pending = self.pending
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
        var images = [media, work]
        if !pending.isEmpty {
            for _ in 0..<mixes {
                var image = media
                image.withUnsafeMutableBytes { out in
                    for (offset, bytes, flush) in pending where flush >= mediaFlush[offset / 64] && Bool.random(using: &generator) {
                        bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[offset..<(offset + $0.count)]).copyMemory(from: $0) }
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
