extension PMemError {
    /// The kind of a ``PMemError``.
    ///
    /// A struct rather than an enum so that new codes can be added without
    /// breaking `switch` statements in client code; compare with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name of the code, for example `"fileNotFound"`.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// The name of the code.
        public var description: String { name }

        // MARK: Files and descriptors

        /// The file does not exist.
        public static let fileNotFound = Code("fileNotFound")
        /// The path names a directory, device or other non-regular file.
        public static let notARegularFile = Code("notARegularFile")
        /// The file is empty; there is nothing to map.
        public static let emptyFile = Code("emptyFile")
        /// The file exists and creating it was not allowed to replace it.
        public static let fileExists = Code("fileExists")
        /// The last path component is a symbolic link, which is never followed.
        public static let symbolicLink = Code("symbolicLink")
        /// The file may not be opened or mapped with the requested access.
        public static let permissionDenied = Code("permissionDenied")
        /// A write was attempted through a read-only mapping or descriptor.
        public static let readOnly = Code("readOnly")
        /// The file system has no room for the requested allocation.
        public static let noSpace = Code("noSpace")

        // MARK: Ranges and alignment

        /// A mapping offset is not a multiple of the required alignment.
        public static let unalignedOffset = Code("unalignedOffset")
        /// A mapping or file length is not a multiple of the required alignment.
        public static let unalignedLength = Code("unalignedLength")
        /// A range lies (partly) outside the file or the mapping.
        public static let outOfBounds = Code("outOfBounds")
        /// An argument is invalid for a reason the message names.
        public static let invalidArgument = Code("invalidArgument")

        // MARK: Persistence

        /// The requested store granularity is finer than the file offers
        /// (for example cache-line granularity on a file not on DAX).
        public static let granularityNotSupported = Code("granularityNotSupported")
        /// The operation is not supported on this file, file system or device.
        public static let notSupported = Code("notSupported")
        /// Reading or writing the media failed (a bad block, an I/O error).
        public static let ioFailure = Code("ioFailure")

        // MARK: Sealed files

        /// The file carries no seal.
        public static let notSealed = Code("notSealed")
        /// The file's seal record is damaged (bad magic, version or checksum).
        public static let sealRecordCorrupt = Code("sealRecordCorrupt")
        /// Part of the file has no blocks allocated (a hole or a sparse region).
        public static let hole = Code("hole")
        /// An extent is allocated but unwritten (for example after `fallocate`).
        public static let unwrittenExtent = Code("unwrittenExtent")
        /// An extent is shared with another file (reflink / copy-on-write).
        public static let sharedExtent = Code("sharedExtent")
        /// An extent's blocks are not allocated yet (delayed allocation).
        public static let delayedAllocation = Code("delayedAllocation")
        /// The file system cannot say where an extent's data lives.
        public static let unknownExtent = Code("unknownExtent")
        /// An extent is compressed or encrypted (encoded), so it cannot be mapped directly.
        public static let encodedExtent = Code("encodedExtent")
        /// An extent is not block-aligned (tail packing and similar).
        public static let unalignedExtent = Code("unalignedExtent")
        /// Data is stored inline in the file system's metadata, not in blocks.
        public static let inlineData = Code("inlineData")
        /// The file is copy-on-write (btrfs without `FS_NOCOW_FL`): every write
        /// would move its blocks. Create it with `SealedFile/create(at:size:permissions:replaceExisting:placement:progress:)-(FilePath,_,_,_,_,_)`.
        public static let copyOnWrite = Code("copyOnWrite")
        /// The file's size differs from the size recorded in its seal.
        public static let sizeChanged = Code("sizeChanged")
        /// The file's extent map differs from the one recorded in its seal.
        public static let extentMapChanged = Code("extentMapChanged")

        // MARK: Failure-atomic pools

        /// The file is not a pool (it has no pool header).
        public static let notAPool = Code("notAPool")
        /// The pool's metadata failed a checksum or a consistency check.
        public static let poolCorrupt = Code("poolCorrupt")
        /// Another process (or another open in this one) has the pool open.
        public static let poolBusy = Code("poolBusy")
        /// The pool's format version is one this library does not read
        /// (an older or a newer one); the message names it.
        public static let unsupportedVersion = Code("unsupportedVersion")
        /// The pool was closed (`Pool/close()`); open it again to use it.
        public static let poolClosed = Code("poolClosed")
        /// An earlier update failed after it was committed; reopening the pool runs the recovery that finishes it.
        public static let needsRecovery = Code("needsRecovery")
        /// The update is larger than the pool can make failure-atomic.
        public static let updateTooLarge = Code("updateTooLarge")
        /// The pools of the process have no room left in their mapping
        /// budget (half of `vm.max_map_count`) for this update or open, and
        /// no chunk could be homed to make room. Nothing was changed; the
        /// message names the mappings needed and the sysctl.
        public static let outOfMappings = Code("outOfMappings")
        /// A read-only opener's read found the pool changing under it (a
        /// writer's commits) every time it tried; nothing was returned. Read
        /// again, or a smaller range.
        public static let changedUnderneath = Code("changedUnderneath")
        /// The pool's metadata (header, page table or a lane) lies on media the
        /// device reports bad (libpmem2's bad-block list): reading it could
        /// raise a machine check (SIGBUS), so the open is refused before any
        /// metadata is read. The message names the file ranges; repair the
        /// device (`ndctl clear-errors`, or restore from a copy) and open again.
        /// Bad blocks in data chunks do not refuse an open: see `Pool/media`.
        public static let mediaError = Code("mediaError")
        /// The device reports an unsafe shutdown while the pool was open: its
        /// unsafe-shutdown count changed (or the pool now lies on another
        /// device) and the pool's shutdown record still says open. Writes the
        /// pool had made durable may have been lost in the device's buffers.
        /// Nothing was changed; open with `acceptingUncleanShutdown: true` to
        /// recover the pool as it is (the acceptance is recorded).
        public static let uncleanShutdown = Code("uncleanShutdown")
        /// A test's crash point was reached (builds with test hooks only):
        /// the commit stopped there as a crash would stop it. Never thrown by
        /// a release build; not public, so no client code can depend on it.
        package static let simulatedCrash = Code("simulatedCrash")

        // MARK: Anything else

        /// A system call failed in a way no more specific code covers; see ``PMemError/errno``.
        public static let systemCallFailed = Code("systemCallFailed")
        /// libpmem2 failed in a way no more specific code covers; see ``PMemError/libpmem2``.
        public static let libpmem2Failure = Code("libpmem2Failure")
    }
}
