import Foundation
@testable import PGReflexAgents
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An exec agent's stdin is a file that never has a name: a kill -9 mid-call leaves nothing
/// in the temp directory.
@Suite struct ExecAgentStdinTests {
    @Test func theStdinFileHoldsThePayloadAndNeverHasAName() throws {
        let payload = Array((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let fd = try ExecAgent.stdinFile(payload)
        defer { close(fd) }
        var read = [UInt8](repeating: 0, count: payload.count + 1)
        var total = 0
        while total < read.count {
            let n = read.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, $0.count - total) }
            guard n > 0 else { break }
            total += n
        }
        #expect(total == payload.count && Array(read[..<total]) == payload, "positioned at the start, all of it")
        var target = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
        let name = length > 0 ? String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        // A nameless file reads as `<dir>/#<inode> (deleted)`; a named one, unlinked, as its name.
        #expect(!name.contains("pgreflex-stdin"), "\(name)")
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "a child spawned meanwhile never inherits it")
    }
}
