public import SystemPackage

extension PMemError {
    /// The error for a failed system call: the code follows from the errno,
    /// the message names the operation.
    public static func system(_ errno: Errno, _ operation: String, path: FilePath? = nil) -> PMemError {
        PMemError(code(for: errno), "\(operation) failed: \(errno)", path: path, errno: errno)
    }

    package static func code(for errno: Errno) -> Code {
        switch errno {
        case .noSuchFileOrDirectory: .fileNotFound
        case .permissionDenied, .notPermitted: .permissionDenied
        case .readOnlyFileSystem: .readOnly
        case .noSpace, .diskQuotaExceeded: .noSpace
        case .fileExists: .fileExists
        case .tooManySymbolicLinkLevels: .symbolicLink
        case .isDirectory, .notDirectory, .operationNotSupportedByDevice: .notARegularFile
        case .ioError: .ioFailure
        case .notSupported, .noFunction, .inappropriateIOCTLForDevice: .notSupported
        case .invalidArgument, .badFileDescriptor, .fileTooLarge: .invalidArgument
        default: .systemCallFailed
        }
    }
}
