import Postgres
import ServiceKit

/// The watchlist database's versioned migrations, applied at start by ``PostgresMigrator``.
///
/// `UNIQUE (user_id, movie_id)` is what makes racing duplicate adds safe: the database,
/// not a read-then-write in the service, decides which one wins, and the losers get a
/// unique violation that the service turns into 409. The unique index already serves
/// lookups by `user_id` (its leading column); the separate `user_id` index is the seed's
/// and is kept for plans that want a narrow index; `movie_id` needs its own.
enum WatchlistSchema {
    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "create watchlist",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS watchlist (
                    id bigserial PRIMARY KEY,
                    user_id bigint NOT NULL,
                    movie_id bigint NOT NULL,
                    added_at timestamptz NOT NULL DEFAULT now(),
                    CONSTRAINT watchlist_user_movie_key UNIQUE (user_id, movie_id)
                )
                """,
                "CREATE INDEX IF NOT EXISTS watchlist_user_id_idx ON watchlist (user_id)",
                "CREATE INDEX IF NOT EXISTS watchlist_movie_id_idx ON watchlist (movie_id)",
            ]),
        // Users the user service told us it deleted: an add that raced the deletion finds
        // the user here (under the same per-user lock, see WatchlistStore) and is refused,
        // so no entry outlives its user where the relay would never remove it.
        Migration(
            version: 2, name: "deleted users",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS deleted_users (
                    user_id bigint PRIMARY KEY,
                    deleted_at timestamptz NOT NULL DEFAULT now()
                )
                """
            ]),
        IdempotencyKeyStore.migration(version: 3, table: idempotencyKeys),
    ]

    /// The `Idempotency-Key`s of `POST /api/watchlist` (ServiceKit's ``IdempotencyKeyStore``).
    static let idempotencyKeys = "watchlist_idempotency_keys"
}
