@testable import PMemPool
import Testing

/// The commit record's header as docs/FORMAT.md lays it out.
@Suite("Commit record header")
struct CommitRecordTests {
    @Test("the header starts with the bytes PMCOMMIT on the media, whatever the constant is written as")
    func magic() {
        let header = UnsafeMutableRawPointer.allocate(byteCount: CommitRecord.headerSize, alignment: 64)
        defer { header.deallocate() }
        CommitRecord.writeHeader(header, sequence: 1, entryCount: 0, bodyLength: 0)
        #expect(Array(UnsafeRawBufferPointer(start: header, count: 8)) == Array("PMCOMMIT".utf8))
    }
}
