#if canImport(Glibc)
import Glibc
#endif

/// Temp files that never have a name (Linux's `O_TMPFILE`): not even a kill -9 can leave one
/// behind, with what it held (a spilled transaction's raw row values, an agent's input).
public enum NamelessFile {
    /// `__O_TMPFILE | O_DIRECTORY`, the same on x86-64 and AArch64; Swift's Glibc module leaves
    /// `O_TMPFILE` out (it is `_GNU_SOURCE`).
    static let temporary: Int32 = 0o20_000_000 | O_DIRECTORY

    /// A new empty file in `directory`, open for reading and writing, close-on-exec. Where the
    /// file system cannot make a nameless one, a file named `prefix…`, unlinked at once (and
    /// close-on-exec just after it is made). Returns -1 with `errno` set on failure.
    public static func open(in directory: String, prefix: String) -> Int32 {
        let fd = Glibc.open(directory, O_RDWR | O_CLOEXEC | temporary, 0o600)
        guard fd < 0, errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL else { return fd }
        var template = Array("\(directory)/\(prefix)XXXXXX".utf8CString)
        let named = mkstemp(&template)
        guard named >= 0 else { return named }
        _ = fcntl(named, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return named
    }
}
