import Foundation
import PGReflexAgents
import PGReflexConfig
import PGReflexDelivery
import PGReflexJournal

/// The directories and files a first `run` creates (the journal, the state store, the sinks'
/// files, the schema registry), noted before it starts, so that a start that fails before it
/// captured anything leaves nothing behind: a wrong port or password must not leave a journal
/// that the next start then has to explain.
struct StartLeftovers {
    /// The paths that did not exist before the start.
    let absent: [String]
    let journalDirectory: String

    init(_ configuration: RunConfiguration) {
        var candidates = [configuration.journal.directory, configuration.stateDirectory, configuration.schemaRegistry]
        candidates += configuration.consumers.map(\.path)
        for agent in configuration.agents {
            if case .file(let path, setting: _) = agent.kind { candidates.append(path) }
        }
        absent = candidates.filter { !FileManager.default.fileExists(atPath: $0) }
        journalDirectory = configuration.journal.directory
    }

    /// Removes what the start created, unless the journal took a record: then it is history,
    /// and stays.
    func removeAfterFailedStart() {
        guard !Journal.holdsSegments(directory: journalDirectory) else { return }
        for path in absent { try? FileManager.default.removeItem(atPath: path) }
    }
}
