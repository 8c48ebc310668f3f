public import PGReflexJournal
import PGReflexRouter
import PGReflexWire
import Yams

/// `sink:` and `consumers:`, and finding one by name.
extension RunConfiguration {
    /// A configured consumer by name; without a name, `sink`, or the only consumer.
    public func consumer(named name: String?) throws -> ConsumerSettings {
        let names = consumers.map(\.name).joined(separator: ", ")
        if let name {
            guard let found = consumers.first(where: { $0.name == name }) else {
                throw ConfigurationError(file: file, line: nil, message: "no consumer named \(name): the configured consumers are \(names)")
            }
            return found
        }
        if let sink = consumers.first(where: { $0.name == "sink" }) ?? (consumers.count == 1 ? consumers.first : nil) { return sink }
        let routeNames = routes.map(\.name).joined(separator: ", ")
        let otherwise = (routes.isEmpty ? "" : "replay through a route with --route (one of \(routeNames)), or ") + "print the events with --output - (or a file)"
        guard !consumers.isEmpty else {
            throw ConfigurationError(file: file, line: nil, message: "no consumer is configured (no sink: or consumers: section): \(otherwise)")
        }
        throw ConfigurationError(file: file, line: nil, message: "several consumers and none named sink: pass --consumer (one of \(names)), or \(otherwise)")
    }
}

extension RunConfiguration.Reader {
    /// A consumer's section: `file: { path: … }`, `start`, `on_journal_full`.
    func consumer(_ node: Node, name: String, key: String) throws -> ConsumerSettings {
        let section = try mapping(node, key, keys: ["file", "start", "on_journal_full"])
        guard let fileNode = section["file"] else {
            throw fail(node, "\(key) needs a kind; the one available is file: { path: … }")
        }
        let fileSink = try mapping(fileNode, "\(key).file", keys: ["path"])
        let path = self.path(try string(try required(fileSink, "path", in: fileNode, section: "\(key).file"), "\(key).file.path"))
        var start: StartPosition?
        if let node = section["start"] {
            let text = try string(node, "\(key).start")
            guard let parsed = StartPosition(parsing: text) else {
                throw fail(node, "\(key).start must be earliest, latest, or an LSN such as 0/16B3748 (where a consumer without a cursor begins)")
            }
            start = parsed
        }
        var onFull = ConsumerSettings.OnJournalFull.pause
        if let node = section["on_journal_full"] {
            guard let parsed = ConsumerSettings.OnJournalFull(rawValue: try string(node, "\(key).on_journal_full")) else {
                throw fail(node, "\(key).on_journal_full must be pause (capture waits for this consumer; nothing is lost) or drop_oldest (it skips what the size bound removes)")
            }
            onFull = parsed
        }
        return ConsumerSettings(name: name, path: path, start: start, onJournalFull: onFull, pathSetting: "\(key).file.path")
    }
}
