import CPMem2
package import SystemPackage

extension PMemError {
    /// Maps a libpmem2 return code to an error, capturing `pmem2_errormsg()`
    /// (thread-local in libpmem2, so this must run on the failing thread).
    package static func libpmem2(_ rc: Int32, _ operation: String, path: FilePath? = nil) -> PMemError {
        let message = String(cString: pmem2_errormsg())
        let failure = LibPMem2Failure(code: rc, message: message)
        // Codes above the PMEM2_E_* range are negated errno values.
        if rc > PMEM2_E_UNKNOWN && rc < 0 {
            let errno = Errno(rawValue: -rc)
            var error = PMemError.system(errno, operation, path: path)
            error.libpmem2 = failure
            return error
        }
        let (code, explanation) = classify(rc)
        return PMemError(code, "\(operation) failed: \(explanation)", path: path, libpmem2: failure)
    }

    /// Every `PMEM2_E_*` code of libpmem2 1.12, with the kind it belongs to.
    package static func classify(_ rc: Int32) -> (Code, String) {
        switch rc {
        case PMEM2_E_NOSUPP: (.notSupported, "not supported")
        case PMEM2_E_FILE_HANDLE_NOT_SET, PMEM2_E_FILE_DESCRIPTOR_NOT_SET:
            (.invalidArgument, "no file descriptor was set")
        case PMEM2_E_INVALID_FILE_HANDLE: (.invalidArgument, "invalid file descriptor")
        case PMEM2_E_INVALID_FILE_TYPE: (.notARegularFile, "not a regular file or DAX device")
        case PMEM2_E_MAP_RANGE: (.outOfBounds, "the range lies outside the file")
        case PMEM2_E_MAPPING_EXISTS, PMEM2_E_MAP_EXISTS:
            (.invalidArgument, "a mapping already exists in that range")
        case PMEM2_E_GRANULARITY_NOT_SET: (.invalidArgument, "no store granularity requested")
        case PMEM2_E_GRANULARITY_NOT_SUPPORTED:
            (.granularityNotSupported, "the requested store granularity is not available")
        case PMEM2_E_OFFSET_OUT_OF_RANGE: (.outOfBounds, "offset out of range")
        case PMEM2_E_OFFSET_UNALIGNED: (.unalignedOffset, "offset not aligned")
        case PMEM2_E_INVALID_ALIGNMENT_FORMAT, PMEM2_E_INVALID_ALIGNMENT_VALUE:
            (.notSupported, "cannot read the device's alignment")
        case PMEM2_E_INVALID_SIZE_FORMAT: (.notSupported, "cannot read the device's size")
        case PMEM2_E_LENGTH_UNALIGNED: (.unalignedLength, "length not aligned")
        case PMEM2_E_MAPPING_NOT_FOUND: (.invalidArgument, "mapping not found")
        case PMEM2_E_BUFFER_TOO_SMALL: (.invalidArgument, "buffer too small")
        case PMEM2_E_SOURCE_EMPTY: (.emptyFile, "the file is empty")
        case PMEM2_E_INVALID_SHARING_VALUE: (.invalidArgument, "invalid sharing type")
        case PMEM2_E_SRC_DEVDAX_PRIVATE: (.notSupported, "a DAX device cannot be mapped private")
        case PMEM2_E_INVALID_ADDRESS_REQUEST_TYPE: (.invalidArgument, "invalid address request")
        case PMEM2_E_ADDRESS_UNALIGNED: (.invalidArgument, "address not aligned")
        case PMEM2_E_ADDRESS_NULL: (.invalidArgument, "address is null")
        case PMEM2_E_DEEP_FLUSH_RANGE: (.outOfBounds, "deep flush range outside the mapping")
        case PMEM2_E_INVALID_REGION_FORMAT, PMEM2_E_DAX_REGION_NOT_FOUND, PMEM2_E_INVALID_DEV_FORMAT:
            (.notSupported, "cannot find the DAX region of this file")
        case PMEM2_E_CANNOT_READ_BOUNDS: (.notSupported, "cannot read the bounds of the device")
        case PMEM2_E_NO_BAD_BLOCK_FOUND: (.invalidArgument, "no such bad block")
        case PMEM2_E_LENGTH_OUT_OF_RANGE: (.outOfBounds, "length out of range")
        case PMEM2_E_INVALID_PROT_FLAG: (.invalidArgument, "invalid protection flags")
        case PMEM2_E_NO_ACCESS: (.permissionDenied, "no access to the mapping")
        case PMEM2_E_VM_RESERVATION_NOT_EMPTY: (.invalidArgument, "reservation not empty")
        case PMEM2_E_SOURCE_TYPE_NOT_SUPPORTED: (.notSupported, "source type not supported")
        case PMEM2_E_IO_FAIL: (.ioFailure, "I/O failure")
        default: (.libpmem2Failure, "libpmem2 error \(rc)")
        }
    }
}
