import GRDB

/// Dead letters: at most one per event and route. Before v7 an event read again after a crash
/// could be run and dead-lettered a second time, and `dlq retry` then delivered it twice.
extension SQLiteStateStore {
    static func registerOneLetterPerEvent(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7") { db in
            // Keep each event's first letter (its first attempts); later ones repeated it.
            try db.execute(sql: """
                DELETE FROM dead_letters WHERE id NOT IN (SELECT min(id) FROM dead_letters GROUP BY route, event_id)
                """)
            try db.create(index: "dead_letters_event", on: "dead_letters", columns: ["route", "event_id"], options: .unique)
        }
    }
}
