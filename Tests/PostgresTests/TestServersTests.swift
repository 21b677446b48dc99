import MarqueeTesting
import Testing

/// The test PostgreSQL servers themselves: the shared one answers, databases come fresh, and a
/// private one survives stop/start and restart.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct TestServersPostgresTests {
    @Test func sharedServerAnswersSelect1() throws {
        let postgres = try TestServers.postgres()
        #expect(postgres.port > 0)
        #expect(postgres.superuserURL == "postgresql://postgres@127.0.0.1:\(postgres.port)/postgres")
        #expect(try postgres.psql("select 1") == "1")
        // The same server for every caller in the process.
        #expect(try TestServers.postgres().port == postgres.port)
    }

    @Test func createDatabaseGivesAnEmptyDatabaseEachTime() throws {
        let postgres = try TestServers.postgres()
        let url = try postgres.createDatabase(named: "testservers_fresh")
        #expect(url == "postgresql://postgres@127.0.0.1:\(postgres.port)/testservers_fresh")
        try postgres.psql("create table t (x int); insert into t values (42)", database: "testservers_fresh")
        #expect(try postgres.psql("select x from t", database: "testservers_fresh") == "42")

        _ = try postgres.createDatabase(named: "testservers_fresh")
        let tables = try postgres.psql(
            "select count(*) from pg_tables where schemaname = 'public'", database: "testservers_fresh")
        #expect(tables == "0")
    }

    @Test func badDatabaseNamesAreRefused() throws {
        let postgres = try TestServers.postgres()
        #expect(throws: TestServerError.self) { try postgres.createDatabase(named: "Robert'); drop") }
        #expect(throws: TestServerError.self) { try postgres.createDatabase(named: "") }
    }

    @Test func privateServerSurvivesRestartAndStopStart() throws {
        let postgres = try TestServers.privatePostgres()
        defer { postgres.shutdown() }
        #expect(try TestServers.postgres().port != postgres.port)
        try postgres.psql("create table kept (x int); insert into kept values (7)")

        try postgres.restart()
        #expect(try postgres.psql("select x from kept") == "7")

        try postgres.stop()
        #expect(throws: TestServerError.self) { try postgres.psql("select 1") }
        try postgres.start()
        #expect(try postgres.psql("select 1") == "1")
    }
}
