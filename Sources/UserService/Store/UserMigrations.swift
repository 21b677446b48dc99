import Postgres
import ServiceKit

/// The user service's schema in `userdb`, applied at start by `PostgresMigrator`
/// (versioned, idempotent, in one transaction under an advisory lock).
public enum UserMigrations {
    public static let all: [Migration] = [
        Migration(version: 1, name: "users", statements: [
            """
            CREATE TABLE users (
                id bigserial PRIMARY KEY,
                name text NOT NULL,
                email text NOT NULL,
                password_hash text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            // Emails are stored lower-cased by the service; the index on lower(email) makes
            // uniqueness hold case-insensitively even for a row written some other way, and
            // it is what turns two concurrent sign-ups with one address into one 201 and one 409.
            "CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))",
        ]),
        Migration(version: 2, name: "user_deletions outbox", statements: [
            // The outbox of deletions to tell the watchlist service about (see DeletionRelay):
            // a row is written in the transaction that deletes the user, and delivered_at is set
            // once the watchlist service confirmed. No foreign key: the user row is gone.
            """
            CREATE TABLE user_deletions (
                id bigserial PRIMARY KEY,
                user_id bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                delivered_at timestamptz NULL,
                attempts integer NOT NULL DEFAULT 0,
                last_error text NULL
            )
            """,
            "CREATE INDEX user_deletions_pending ON user_deletions (id) WHERE delivered_at IS NULL",
        ]),
        Migration(version: 3, name: "users role and token version", statements: [
            // The role is granted by an operator only (user-service admin grant EMAIL); the
            // token version is bumped by a password, email or role change, and tokens that
            // carry an older one are refused (tokens issued before this migration carry none).
            """
            ALTER TABLE users
                ADD COLUMN role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
                ADD COLUMN token_version bigint NOT NULL DEFAULT 1
            """,
            "CREATE INDEX users_admins ON users (id) WHERE role = 'admin'",
        ]),
        Migration(version: 4, name: "user_deletions trace", statements: [
            // The deleting request's span (W3C traceparent), so that the relay's delivery,
            // however late, continues that request's trace.
            "ALTER TABLE user_deletions ADD COLUMN traceparent text NULL",
        ]),
        IdempotencyKeyStore.migration(version: 5, table: idempotencyKeys),
    ]

    /// The `Idempotency-Key`s of `POST /api/users` (ServiceKit's ``IdempotencyKeyStore``).
    static let idempotencyKeys = "user_idempotency_keys"
}
