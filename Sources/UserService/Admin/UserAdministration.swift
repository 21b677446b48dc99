import Postgres
import Reactor
import ServiceKit

#if canImport(Glibc)
import Glibc
#endif

/// The operator's command for roles: `user-service admin grant|revoke EMAIL` and
/// `user-service admin list`, against the database in `DATABASE_URL` (the server's setting,
/// so a container or pod runs it with the environment it already has).
///
/// Roles are granted here and nowhere else (besides the first-admin bootstrap): no request
/// a user can send makes anyone an admin. A grant or revoke bumps the account's token
/// version, so tokens carrying the old role stop working at once.
public enum UserAdministration {
    public static let usage = """
        Usage: user-service admin grant EMAIL    make the account with EMAIL an admin
               user-service admin revoke EMAIL   make it a plain user again
               user-service admin list           list the admins
        Reads DATABASE_URL like the server (environment or --database-url URL); applies the
        user service's migrations first. Exit status: 0 done (or nothing to change), 1 no
        such account or the database failed, 2 bad usage.

        """

    /// What the command line asked for.
    public enum Command: Sendable, Equatable {
        case grant(String)
        case revoke(String)
        case list
    }

    /// Parses the words after `admin`; flags (`--database-url`) are left to the settings.
    public static func parse(_ words: [String]) -> Command? {
        let positional = positionalWords(words)
        switch positional.first {
        case "grant" where positional.count == 2: return .grant(positional[1].lowercased())
        case "revoke" where positional.count == 2: return .revoke(positional[1].lowercased())
        case "list" where positional.count == 1: return .list
        default: return nil
        }
    }

    /// The words that are not `--flag value` pairs.
    static func positionalWords(_ words: [String]) -> [String] {
        var out: [String] = []
        var index = 0
        while index < words.count {
            if words[index].hasPrefix("--") {
                index += words[index].contains("=") ? 1 : 2
            } else {
                out.append(words[index])
                index += 1
            }
        }
        return out
    }

    static let settings: [Setting] = [
        .databaseURL(default: "postgresql://user:user@127.0.0.1:5432/userdb"), .logLevel,
    ]

    /// `main` for `user-service admin ...`: never returns.
    public static func main(_ words: [String]) -> Never {
        guard let command = parse(words) else {
            ServiceConfiguration.writeAll(2, usage)
            exit(2)
        }
        let flags = flagWords(words)
        let configuration: ServiceConfiguration
        do {
            guard
                case .configuration(let parsed) = try ServiceConfiguration.parse(
                    settings: settings, environment: ServiceConfiguration.processEnvironment(), arguments: flags)
            else {
                ServiceConfiguration.writeAll(1, usage)
                exit(0)
            }
            configuration = parsed
        } catch {
            ServiceConfiguration.writeAll(2, "user-service admin: \(error.message)\n")
            exit(2)
        }
        let url = configuration.string("DATABASE_URL") ?? ""
        ServiceRunner.runCommand { group in
            await run(command, databaseURL: url, group: group) { line in ServiceConfiguration.writeAll(1, line + "\n") }
        }
    }

    /// The `--flag value` pairs of `words`.
    static func flagWords(_ words: [String]) -> [String] {
        var out: [String] = []
        var index = 0
        while index < words.count {
            if words[index].hasPrefix("--") {
                out.append(words[index])
                if !words[index].contains("="), index + 1 < words.count { out.append(words[index + 1]) }
                index += words[index].contains("=") ? 1 : 2
            } else {
                index += 1
            }
        }
        return out
    }

    /// Runs `command` against `databaseURL`; returns the exit status. `say` prints a line.
    public static func run(
        _ command: Command, databaseURL: String, group: EventLoopGroup, say: @Sendable (String) -> Void
    ) async -> Int32 {
        let postgres: PostgresConfiguration
        do {
            postgres = try PostgresConfiguration(url: databaseURL)
        } catch {
            say("DATABASE_URL is not a PostgreSQL URL")
            return 2
        }
        let database = PostgresClient(configuration: postgres, group: group, minConnections: 0, maxConnections: 1)
        do {
            _ = try await PostgresMigrator(client: database).migrate(UserMigrations.all)
            let store = UserStore(client: database)
            switch command {
            case .grant(let email), .revoke(let email):
                let role: UserRole = if case .grant = command { .admin } else { .user }
                switch try await store.setRole(email: email, role: role) {
                case .changed(let user):
                    say("\(user.email) (id \(user.id)) is now \(role.rawValue); their earlier tokens are revoked")
                case .unchanged(let user):
                    say("\(user.email) (id \(user.id)) is already \(role.rawValue)")
                case .noSuchUser:
                    say("no account has the email \(email)")
                    await database.shutdown()
                    return 1
                }
            case .list:
                for user in try await store.admins() { say("\(user.id)\t\(user.email)\t\(user.name)") }
            }
            await database.shutdown()
            return 0
        } catch {
            say("database error: \(error)")
            await database.shutdown()
            return 1
        }
    }
}
