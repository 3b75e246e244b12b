//! The SQLite store: opening the database, its schema and migrations, and every SQL statement.
//!
//! Writes go through one dedicated connection owned by the ingest writer ([`crate::ingest`]), which
//! commits deliveries in groups; [`write`] holds what it runs inside a transaction. Reads go through
//! an r2d2 pool of read-only connections ([`Store::read`]); under WAL they never wait for the writer.
//! A read runs for at most [`READ_TIME_LIMIT`] (SQLite interrupts it, [`Error::TooSlow`]), so that
//! no request, whatever its parameters, holds a pooled connection from the others for longer; the
//! filters' "did you mean" lookups ([`names::unknown`], CPU-bound) have a small pool of their own
//! ([`Store::read_names`]), so that any number of them leaves the main pool to the other reads.

pub mod app;
pub mod attempts;
pub mod board;
pub mod cctray;
pub mod claims;
pub mod failures;
pub mod figures;
pub mod logs;
pub mod maintenance;
pub mod migrate;
pub mod model;
pub mod names;
pub mod outbox;
pub mod query;
pub mod queuestates;
pub mod read;
pub mod reports;
pub mod rows;
pub mod runners;
pub mod runpage;
pub mod samples;
pub mod settings;
pub mod tokens;
pub mod triage;
pub mod wall;
pub mod write;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

/// How long a connection waits for a lock before `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a read may run before SQLite interrupts it.
pub const READ_TIME_LIMIT: Duration = Duration::from_secs(5);
/// SQLite virtual-machine steps between two looks at the clock of a read.
const PROGRESS_STEPS: i32 = 10_000;

thread_local! {
    /// When the read running on this thread must stop (set by [`Store::read`] around its closure;
    /// the pool's connections are used on the thread that took them).
    static READ_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Read connections of [`Store::read_names`].
const NAMES_POOL_SIZE: u32 = 2;
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
    /// A read interrupted after [`READ_TIME_LIMIT`].
    #[error("the read took longer than {} s and was stopped; ask for less (a shorter window, fewer names)", .0.as_secs())]
    TooSlow(Duration),
    #[error("cannot create the database file {path}: {cause}")]
    Create {
        path: PathBuf,
        cause: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs a write on the server's one write connection, in turn with everything else written there
/// (the ingest writer implements it). Background tasks that write a little (the notification
/// sender) take this rather than the writer itself, which they need not know.
pub trait Writes: Send + Sync + 'static {
    /// Why a write did not happen.
    type Error: std::fmt::Display + Send;

    /// Runs `f` on the write connection and returns its result.
    fn write<T, F>(&self, f: F) -> impl std::future::Future<Output = Result<T, Self::Error>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static;
}

/// A handle on the database: cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    pool: r2d2::Pool<SqliteConnectionManager>,
    /// The pool of [`Store::read_names`], and a permit per connection taken before a blocking
    /// thread is (waiting readers wait without holding a thread).
    names: (
        r2d2::Pool<SqliteConnectionManager>,
        Arc<tokio::sync::Semaphore>,
    ),
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

/// The progress handler of pooled connections: `true` (interrupt) once the read running on this
/// thread is past its deadline.
fn past_read_deadline() -> bool {
    READ_DEADLINE
        .get()
        .is_some_and(|deadline| Instant::now() >= deadline)
}

/// Creates the database file readable and writable by its owner only (mode 0600), when it does
/// not exist yet: it may come to hold the GitHub App's private key and sign-in tokens. SQLite gives
/// its `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(cause) => {
                return Err(Error::Create {
                    path: path.to_owned(),
                    cause,
                })
            }
        }
    }
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
        create_private(path)?;
        let mut conn = Self::open_writer_at(path)?;
        migrate::apply(&mut conn, path)?;
        drop(conn);
        let manager = || {
            SqliteConnectionManager::file(path)
                .with_flags(
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )
                .with_init(|conn| {
                    configure(conn)?;
                    conn.progress_handler(PROGRESS_STEPS, Some(past_read_deadline));
                    conn.pragma_update(None, "query_only", true)
                })
        };
        let pool = r2d2::Pool::builder()
            .max_size(READ_POOL_SIZE)
            .min_idle(Some(1))
            .build(manager())?;
        let names = r2d2::Pool::builder()
            .max_size(NAMES_POOL_SIZE)
            .min_idle(Some(0))
            .build(manager())?;
        Ok(Self {
            path: path.to_owned(),
            pool,
            names: (
                names,
                Arc::new(tokio::sync::Semaphore::new(NAMES_POOL_SIZE as usize)),
            ),
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
        Self::read_in(self.pool.clone(), f).await
    }

    /// [`Store::read`] on the small pool of the filters' name lookups ([`names::unknown`]), at
    /// most [`NAMES_POOL_SIZE`] at once; the others wait without holding a thread.
    ///
    /// # Errors
    /// Whatever `f` returns, or a pool error.
    pub async fn read_names<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (pool, permits) = &self.names;
        let _permit = permits
            .acquire()
            .await
            .map_err(|err| Error::Task(err.to_string()))?;
        Self::read_in(pool.clone(), f).await
    }

    async fn read_in<T, F>(pool: r2d2::Pool<SqliteConnectionManager>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        crate::telemetry::spawn_blocking_in_span(move || {
            let conn = pool.get()?;
            READ_DEADLINE.set(Some(Instant::now() + READ_TIME_LIMIT));
            let result = f(&conn);
            READ_DEADLINE.set(None);
            result.map_err(|err| match err {
                Error::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
                    if failure.code == rusqlite::ErrorCode::OperationInterrupted =>
                {
                    Error::TooSlow(READ_TIME_LIMIT)
                }
                other => other,
            })
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

/// A database in memory with the current schema, for the store's unit tests.
#[cfg(test)]
pub(crate) fn memory_db() -> Connection {
    let conn = Connection::open_in_memory().expect("SQLite opens a database in memory");
    conn.execute_batch(migrate::SCHEMA)
        .expect("the schema applies to an empty database");
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_past_its_time_limit_is_stopped_and_the_connection_serves_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let started = Instant::now();
        let endless = store
            .read(|conn| {
                Ok(conn.query_row(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
                     SELECT count(*) FROM c",
                    [],
                    |row| row.get::<_, i64>(0),
                )?)
            })
            .await;
        assert!(matches!(endless, Err(Error::TooSlow(_))), "{endless:?}");
        let took = started.elapsed();
        assert!(
            took >= READ_TIME_LIMIT && took < READ_TIME_LIMIT * 2,
            "{took:?}"
        );
        let next = store
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
            .await;
        assert_eq!(next.unwrap(), 1);
    }
}
