@testable import PMemSystem
@testable import PMemPool
import PMem
import PMemTestSupport
import Testing

/// A fixed-layout record larger than the hardware's atomic unit.
struct AccountRecord: BitwiseCopyable, Equatable {
    var id: UInt64
    var balance: Int64
    var version: UInt32
    var flags: UInt32
}

/// An error of the caller's own, thrown from a transaction's body.
struct Overdrawn: Error {}

@Suite("Typed handles and typed transactions")
struct PoolHandleTests {
    @Test("a handle is made only inside the pool and aligned as its type needs")
    func handleChecks() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        #expect(try pool.handle(to: AccountRecord.self, at: 64).offset == 64)
        #expect(try pool.handle(to: AccountRecord.self, at: pool.capacity - 24).range == (pool.capacity - 24)..<pool.capacity)
        for offset in [-8, pool.capacity, pool.capacity - 16, Int.max - 7] {
            let error = #expect(throws: PMemError.self) { try pool.handle(to: AccountRecord.self, at: offset) }
            #expect(error?.code == .outOfBounds, "offset \(offset)")
        }
        let error = #expect(throws: PMemError.self) { try pool.handle(to: UInt64.self, at: 12) }
        #expect(error?.code == .unalignedOffset)
        #expect(error?.requiredAlignment == 8)
        #expect(try pool.handle(to: UInt8.self, at: 13).offset == 13)
    }

    @Test("a record written through a handle is there, whole, after a reopen; a counter through one too")
    func writeLoadReopen() throws {
        let scratch = Scratch(on: "/dev/shm")
        let record = AccountRecord(id: 7, balance: -12, version: 3, flags: 0xA5A5)
        let accounts: PoolHandle<AccountRecord>
        let counter: PoolHandle<UInt64>
        do {
            let pool = try smallPool(scratch)
            accounts = try pool.handle(at: 4096)
            counter = try pool.handle(at: 0)
            try pool.write(record, to: accounts)
            try pool.write(41, to: counter)
            try pool.write(try pool.load(counter) + 1, to: counter)
            #expect(try pool.load(accounts) == record)
            pool.close()
        }
        let reopened = try Pool.open(at: scratch.path("pool"))
        #expect(try reopened.load(accounts) == record)
        #expect(try reopened.load(counter) == 42)
        #expect(try reopened.read(at: 4096, count: 24) == withUnsafeBytes(of: record) { Array($0) })
    }

    @Test("advanced(by:) walks an array of records; past the pool a use is outOfBounds, past Int it is nil")
    func arrayOfRecords() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let first = try pool.handle(to: AccountRecord.self, at: 0)
        for i in 0..<10 {
            try pool.write(AccountRecord(id: UInt64(i), balance: Int64(i) * 100, version: 1, flags: 0), to: first.advanced(by: i)!)
        }
        #expect(first.advanced(by: 3)!.offset == 3 * MemoryLayout<AccountRecord>.stride)
        #expect(try pool.load(first.advanced(by: 9)!).balance == 900)
        let past = first.advanced(by: pool.capacity / MemoryLayout<AccountRecord>.stride + 1)!
        let error = #expect(throws: PMemError.self) { try pool.load(past) }
        #expect(error?.code == .outOfBounds)
        #expect(first.advanced(by: Int.max) == nil)
        #expect(first.advanced(by: -1) == nil)
        // A handle whose value would end past Int.max is nil too (its range could not be formed).
        let word = try pool.handle(to: UInt64.self, at: 0)
        #expect(word.advanced(by: Int.max / 8) == nil)
        #expect(word.advanced(by: Int.max / 8 - 1)?.range.upperBound == Int.max - 7)
    }

    @Test("a transaction returns its body's value; its loads through handles see its own pending stores")
    func transactionWithHandles() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let a = try pool.handle(to: AccountRecord.self, at: 0)
        let b = try pool.handle(to: AccountRecord.self, at: 3 * 65536 + 8)
        try pool.write(AccountRecord(id: 1, balance: 100, version: 0, flags: 0), to: a)
        try pool.write(AccountRecord(id: 2, balance: 5, version: 0, flags: 0), to: b)
        let total = try pool.transaction { tx throws(PMemError) in
            var x = try tx.load(a), y = try tx.load(b)
            x.balance -= 30; y.balance += 30
            tx.store(x, to: a)
            tx.store(y, to: b)
            return try tx.load(a).balance + tx.load(b).balance
        }
        #expect(total == 105)
        #expect(try pool.load(a).balance == 70)
        #expect(try pool.load(b).balance == 35)
    }

    @Test("a body that throws PMemError makes the transaction throw PMemError, typed; nothing is written")
    func typedThrows() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let a = try pool.handle(to: UInt64.self, at: 0)
        do {
            try pool.transaction { tx throws(PMemError) in
                tx.store(UInt64(99), to: a)
                _ = try tx.load(UInt64.self, at: pool.capacity)  // out of bounds
            }
            Issue.record("the transaction did not throw")
        } catch {
            // `error` is a PMemError here: no cast.
            #expect(error.code == .outOfBounds)
        }
        #expect(try pool.load(a) == 0)
    }

    @Test("a body that throws the caller's own error aborts the transaction with that error; nothing is written")
    func callersOwnError() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let a = try pool.handle(to: Int64.self, at: 8)
        #expect(throws: Overdrawn.self) {
            try pool.transaction { tx in
                tx.store(Int64(-5), to: a)
                if try tx.load(a) < 0 { throw Overdrawn() }
            }
        }
        #expect(try pool.load(a) == 0)
    }

    @Test("transaction writes from RawSpan and Span<UInt8> land as from an array")
    func spanWrites() throws {
        let scratch = Scratch(on: "/dev/shm")
        let pool = try smallPool(scratch)
        let bytes: [UInt8] = (0..<100).map { UInt8($0) }
        try pool.transaction { tx throws(PMemError) in
            tx.write(bytes.span.bytes, at: 1000)
            tx.write(bytes.span, at: 70000)
        }
        #expect(try pool.read(at: 1000, count: 100) == bytes)
        #expect(try pool.read(at: 70000, count: 100) == bytes)
    }
}
