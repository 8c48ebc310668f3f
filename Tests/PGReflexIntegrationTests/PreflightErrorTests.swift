import Foundation
import PGReflexCapture
import PGReflexConfig
import PGReflexEnvelope
import PGReflexTestSupport
import PGReflexTransport
import PGReflexWire
import Testing

/// Each misconfiguration fails early with its own code and a message that says the fix.
@Suite(.postgresCluster(settings: ["max_replication_slots = 3"]), .serialized, .timeLimit(.minutes(10)))
struct PreflightErrorTests {
    func connect(_ conninfo: String? = nil) async throws -> PostgresConnection {
        try await PostgresConnection.connect(conninfo ?? PostgresCluster.required().conninfo, logger: testLogger)
    }

    func plan(_ connection: PostgresConnection, slot: String, publication: String, tables: [TableName] = [],
              createPublication: Bool = false) async throws -> SourcePlan {
        try await connection.planSource(slot: slot, publication: publication, tables: tables, createSlot: false,
                                        createPublication: createPublication, hints: .tail)
    }

    func expectCode(_ code: PostgresError.Code, mentioning words: [String] = [], _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code), got success")
        } catch let error as PostgresError {
            #expect(error.code == code, "\(error)")
            for word in words { #expect(error.message.contains(word), "\(error.message) should mention \(word)") }
        } catch {
            Issue.record("expected PostgresError \(code), got \(error)")
        }
    }

    @Test func malformedConnInfoNeverEchoesIt() async throws {
        await expectCode(.invalidConnInfo, mentioning: ["key=value"]) { _ = try await connect("host=/tmp port") }
        await expectCode(.invalidConnInfo, mentioning: ["empty"]) { _ = try await connect("  ") }
        do {
            _ = try await connect("password=hunter2secret bogus_option=1")
            Issue.record("connected with a bogus option")
        } catch {
            #expect(!"\(error)".contains("hunter2secret"))
        }
    }

    @Test func unreachableServer() async throws {
        let port = try PostgresCluster.freePort()
        await expectCode(.connectionFailed, mentioning: ["running", "127.0.0.1"]) {
            _ = try await connect("host=127.0.0.1 port=\(port) user=postgres dbname=postgres connect_timeout=2")
        }
    }

    @Test func badValuesAndUnknownRolesHaveTheirOwnCodes() async throws {
        let cluster = try PostgresCluster.required()
        await expectCode(.invalidConnInfo, mentioning: ["port"]) {
            _ = try await connect("host=\(cluster.directory) port=abc user=postgres dbname=postgres")
        }
        await expectCode(.roleNotFound, mentioning: ["CREATE ROLE"]) {
            _ = try await connect("host=\(cluster.directory) port=\(cluster.port) user=no_such_role dbname=postgres")
        }
        await expectCode(.databaseNotFound, mentioning: ["dbname"]) {
            _ = try await connect("host=\(cluster.directory) port=\(cluster.port) user=postgres dbname=no_such_db")
        }
    }

    @Test func wrongPasswordIsAnAuthenticationFailure() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE ROLE pwuser LOGIN REPLICATION PASSWORD 'right-password'")
        let hba = cluster.dataDirectory + "/pg_hba.conf"
        let original = try String(contentsOfFile: hba, encoding: .utf8)
        try ("host all pwuser 127.0.0.1/32 scram-sha-256\n" + original).write(toFile: hba, atomically: true, encoding: .utf8)
        try cluster.psql("SELECT pg_reload_conf()")
        await expectCode(.authenticationFailed, mentioning: ["pg_hba.conf", "password"]) {
            _ = try await connect("host=127.0.0.1 port=\(cluster.port) user=pwuser password=wrong-guess dbname=postgres")
        }
        let ok = try await connect("host=127.0.0.1 port=\(cluster.port) user=pwuser password=right-password dbname=postgres")
        #expect(try await ok.identifySystem().timeline == 1)
    }

    @Test func roleWithoutReplicationPrivilege() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE ROLE plainuser LOGIN")
        await expectCode(.missingReplicationPrivilege, mentioning: ["ALTER ROLE", "REPLICATION"]) {
            _ = try await connect("host=\(cluster.directory) port=\(cluster.port) user=plainuser dbname=postgres")
        }
    }

    @Test func slotsAndPublications() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE pf_a (id int PRIMARY KEY); CREATE TABLE pf_b (id int PRIMARY KEY); CREATE PUBLICATION pf_pub FOR TABLE pf_a;")
        let connection = try await connect()

        await expectCode(.slotNotFound, mentioning: ["--create-slot"]) {
            _ = try await plan(connection, slot: "pf_none", publication: "pf_pub")
        }
        _ = try await connection.createSlot("pf_slot")
        await expectCode(.slotAlreadyExists) { _ = try await connection.createSlot("pf_slot") }
        await expectCode(.publicationMissing, mentioning: ["CREATE PUBLICATION", "--create-publication"]) {
            _ = try await plan(connection, slot: "pf_slot", publication: "pf_missing")
        }
        await expectCode(.publicationLacksTable, mentioning: ["public.pf_b", "ALTER PUBLICATION"]) {
            _ = try await plan(connection, slot: "pf_slot", publication: "pf_pub", tables: [TableName(schema: "public", name: "pf_b")])
        }
        await expectCode(.tableNotFound, mentioning: ["public.pf_nope"]) {
            _ = try await plan(connection, slot: "pf_slot", publication: "pf_new", tables: [TableName(schema: "public", name: "pf_nope")],
                               createPublication: true)
        }
        // Created when asked, for the named tables only: never FOR ALL TABLES unless asked.
        let created = try await plan(connection, slot: "pf_slot", publication: "pf_new", tables: [TableName(schema: "public", name: "pf_b")],
                                     createPublication: true)
        #expect(created.publication == .create(tables: [TableName(schema: "public", name: "pf_b")], allTables: false))
        try await connection.apply(created.publication, to: "pf_new")
        #expect(try cluster.psql("SELECT puballtables FROM pg_publication WHERE pubname = 'pf_new'") == "f")
        let added = try await plan(connection, slot: "pf_slot", publication: "pf_pub", tables: [TableName(schema: "public", name: "pf_b")],
                                   createPublication: true)
        #expect(added.publication == .add([TableName(schema: "public", name: "pf_b")]))
        try await connection.apply(added.publication, to: "pf_pub")
        #expect(try cluster.psql("SELECT count(*) FROM pg_publication_tables WHERE pubname = 'pf_pub'") == "2")
        #expect(try await plan(connection, slot: "pf_slot", publication: "pf_pub", tables: [TableName(schema: "public", name: "pf_b")]).publication == .none)

        // A slot another consumer is streaming from.
        let streaming = try await connect()
        let started = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await streaming.withReplicationStream(ReplicationStreamOptions(slot: "pf_slot", publications: ["pf_pub"])) { stream in
                started.continuation.yield()
                for try await _ in stream {}
            }
        }
        var waiter = started.stream.makeAsyncIterator()
        _ = await waiter.next()
        for _ in 0..<50 where try cluster.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'pf_slot'") != "t" {
            try await Task.sleep(for: .milliseconds(100))
        }
        await expectCode(.slotInUse, mentioning: ["active for PID"]) {
            _ = try await plan(connection, slot: "pf_slot", publication: "pf_pub")
        }
        let second = try await connect()
        await expectCode(.slotInUse, mentioning: ["another slot"]) {
            try await second.withReplicationStream(ReplicationStreamOptions(slot: "pf_slot", publications: ["pf_pub"])) { _ in }
        }
        holder.cancel()
        _ = try? await holder.value

        // max_replication_slots = 3: pf_slot plus two more fill it.
        _ = try await connection.createSlot("pf_fill1")
        _ = try await connection.createSlot("pf_fill2")
        await expectCode(.slotsExhausted, mentioning: ["max_replication_slots"]) { _ = try await connection.createSlot("pf_fill3") }
        for name in ["pf_fill1", "pf_fill2", "pf_slot"] { try await connection.dropSlot(name, wait: true) }
    }
}

@Suite(.postgresCluster(settings: ["wal_level = replica"]), .timeLimit(.minutes(10)))
struct WalLevelTests {
    @Test func replicaWalLevelSaysHowToFixIt() async throws {
        let cluster = try PostgresCluster.required()
        let connection = try await PostgresConnection.connect(cluster.conninfo, logger: testLogger)
        for attempt in 0..<2 {
            do {
                if attempt == 0 { try await connection.requireWalLevelLogical() } else { _ = try await connection.createSlot("s") }
                Issue.record("wal_level = replica was accepted")
            } catch {
                #expect(error.code == .walLevelNotLogical)
                #expect(error.message.contains("wal_level = logical"))
                #expect(error.message.contains("replica"))
                #expect(error.message.contains("restart"))
            }
        }
    }
}
