import Foundation
import PGReflexFiles
import PGReflexJournal
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Temp files without a name: written and read back through the descriptor, nothing ever in
/// the directory.
@Suite struct NamelessFileTests {
    @Test func aNamelessFileNeverAppearsInItsDirectory() throws {
        let directory = NSTemporaryDirectory() + "pgreflex-nameless-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fd = NamelessFile.open(in: directory, prefix: "pgreflex-test-")
        #expect(fd >= 0, "\(String(cString: strerror(errno)))")
        defer { close(fd) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        try FileDescriptorWriter(fd: fd).write(Array("held".utf8))
        var back = [UInt8](repeating: 0, count: 8)
        let n = back.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, 8, 0) }
        #expect(n == 4 && Array(back[..<4]) == Array("held".utf8))
        var target = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
        let name = String(decoding: target[..<max(0, length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(!name.contains("pgreflex-test-"), "no name, ever: \(name)")
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }
}
