//! The SQLite store: opening the database, its schema and migrations, and every SQL statement.
//!
//! Writes go through one dedicated connection owned by the ingest writer ([`crate::ingest`]), which
//! commits deliveries in groups; [`write`] holds what it runs inside a transaction. Reads go through
//! an r2d2 pool of read-only connections ([`Store::read`]); under WAL they never wait for the writer.

pub mod attempts;
pub mod board;
pub mod cctray;
pub mod failures;
pub mod figures;
pub mod maintenance;
pub mod migrate;
pub mod model;
pub mod names;
pub mod outbox;
pub mod query;
pub mod read;
pub mod reports;
pub mod runners;
pub mod runpage;
pub mod samples;
pub mod triage;
pub mod wall;
pub mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

/// How long a connection waits for a lock before `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections in the pool.
const READ_POOL_SIZE: u32 = 8;
/// Threads the server's runtime keeps for blocking work, which is nearly all database reads: a
/// read holds one of the [`READ_POOL_SIZE`] connections, so more threads would only wait for one,
/// each on a stack of its own. (Tokio's default is 512: a thousand board clients connecting at
/// once each read their first snapshot, and left a few hundred idle threads behind, about 13 MB.)
pub const BLOCKING_THREADS: usize = 2 * READ_POOL_SIZE as usize;

/// Errors from the store. The web layer maps all of them to an opaque `500` and logs the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("the database {path} is at schema version {found}, newer than this buildboard understands ({supported}); upgrade buildboard")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("database task failed: {0}")]
    Task(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A handle on the database: cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    pool: r2d2::Pool<SqliteConnectionManager>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Settings every connection gets: WAL, foreign keys, a busy timeout.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// WAL pages between two automatic checkpoints of the writer (see `Store::open_writer`).
const WAL_CHECKPOINT_PAGES: i64 = 8_192;

impl Store {
    /// Opens (creating if needed) the database at `path`, applies the schema and migrates it forward.
    ///
    /// # Errors
    /// When the file cannot be opened, is not a database, or was made by a newer buildboard.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = Self::open_writer_at(path)?;
        migrate::apply(&mut conn, path)?;
        drop(conn);
        let manager = SqliteConnectionManager::file(path)
            .with_flags(
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .with_init(|conn| {
                configure(conn)?;
                conn.pragma_update(None, "query_only", true)
            });
        let pool = r2d2::Pool::builder()
            .max_size(READ_POOL_SIZE)
            .min_idle(Some(1))
            .build(manager)?;
        Ok(Self {
            path: path.to_owned(),
            pool,
        })
    }

    fn open_writer_at(path: &Path) -> Result<Connection> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        // WAL lets readers run beside the writer; FULL makes every commit durable on disk before
        // the delivery is acknowledged (group commit keeps that cheap).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Keep statement and savepoint journals in memory instead of temp files, and give the one
        // writer a page cache that holds the hot index pages.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", -16_384)?; // KiB: 16 MiB

        // Copy the WAL back into the database every 8,192 pages (32 MiB) instead of SQLite's 1,000:
        // the hot pages (the ends of the time-ordered indexes) are written by nearly every group,
        // and each checkpoint copies them once however often they changed since the last one.
        // Measured on the store alone, 25 deliveries per group: 68 µs per delivery at 1,000 pages,
        // 59 at 4,000, 56 at 16,000. A crash leaves at most that much WAL to replay on start.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        Ok(conn)
    }

    /// The one read-write connection, for the ingest writer.
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub fn open_writer(&self) -> Result<Connection> {
        Self::open_writer_at(&self.path)
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with a pooled read-only connection on a blocking thread, keeping the tracing span.
    ///
    /// # Errors
    /// Whatever `f` returns, or a pool error.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        crate::telemetry::spawn_blocking_in_span(move || {
            let conn = pool.get()?;
            f(&conn)
        })
        .await
        .map_err(|err| Error::Task(err.to_string()))?
    }

    /// Reads a setting from the `settings` table.
    ///
    /// # Errors
    /// On a database error.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        let conn = self.pool.get()?;
        read::setting(&conn, key)
    }

    /// Writes a setting (used at start-up, before the ingest writer runs).
    ///
    /// # Errors
    /// On a database error.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let conn = self.open_writer()?;
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )?;
        Ok(())
    }
}
