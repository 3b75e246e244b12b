//! Schema creation and forward migrations, tracked in `PRAGMA user_version`.
//!
//! `schema.sql` always describes the newest schema and is idempotent. A new database gets it and
//! the newest version number. An older one first runs the steps in [`MIGRATIONS`] that it has not
//! run yet (each in the same transaction as the version bump, so a crash leaves it at a clean
//! version), then `schema.sql` adds anything still missing. Rows are never dropped.

use std::path::Path;

use rusqlite::Connection;

use super::{Error, Result};

/// The schema, embedded so the binary works from any directory.
pub const SCHEMA: &str = include_str!("../../schema.sql");

/// Forward migrations: `MIGRATIONS[i]` takes a database from version `i + 1` to `i + 2`.
/// Version 1 is the first released schema.
pub const MIGRATIONS: &[&str] = &[
    // 1 -> 2: ETags and resume state for the REST backfill and reconciliation (see schema.sql).
    "CREATE TABLE IF NOT EXISTS httpcache (
         url       TEXT    PRIMARY KEY,
         etag      TEXT    NOT NULL,
         nexturl   TEXT,
         total     INTEGER,
         items     INTEGER NOT NULL DEFAULT 0,
         body      TEXT,
         fetchtime INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS backfillwindows (
         repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
         windowstart INTEGER NOT NULL,
         windowend   INTEGER,
         nexturl     TEXT,
         done        INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (repo_id, windowstart)
     ) WITHOUT ROWID;",
    // 2 -> 3: the creation-time and per-repository indexes also cover the columns the figures
    // read (schema.sql creates their replacements). The conclusion index goes: a handful of
    // values, so it only ever led the planner to sort a whole conclusion's runs (12 s for
    // `conclusion=failure` at 1M runs) where walking the creation-time index finds a page at once.
    "DROP INDEX IF EXISTS workflowruns_createtime;
     DROP INDEX IF EXISTS workflowruns_repo;
     DROP INDEX IF EXISTS workflowruns_conclusion;",
    // 3 -> 4: fewer pages written per delivery (see schema.sql).
    MIGRATION_3_TO_4,
    // 4 -> 5: the steps of each job; pipelines of other sources (check runs, commit statuses) and
    // the check runs seen; why failed jobs failed, from their logs (see schema.sql).
    "ALTER TABLE workflows ADD COLUMN source TEXT NOT NULL DEFAULT 'actions';
     ALTER TABLE workflows ADD COLUMN provider TEXT;
     CREATE TABLE IF NOT EXISTS checkruns (
         id      INTEGER PRIMARY KEY,
         run_id  INTEGER NOT NULL REFERENCES workflowruns(id) ON DELETE CASCADE,
         attempt INTEGER NOT NULL
     );
     CREATE TABLE IF NOT EXISTS workflowsteps (
         job_id     INTEGER NOT NULL REFERENCES workflowjobs(id) ON DELETE CASCADE,
         number     INTEGER NOT NULL,
         name       TEXT    NOT NULL,
         status     TEXT    NOT NULL,
         conclusion TEXT,
         starttime  INTEGER,
         endtime    INTEGER,
         PRIMARY KEY (job_id, number)
     ) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS jobfailures (
         job_id      INTEGER PRIMARY KEY,
         run_id      INTEGER NOT NULL,
         repo_id     INTEGER NOT NULL,
         rule        TEXT,
         signature   TEXT,
         excerpt     TEXT,
         fetchedtime INTEGER NOT NULL,
         error       TEXT
     );
     CREATE INDEX IF NOT EXISTS jobfailures_signature ON jobfailures (signature, fetchedtime DESC)
         WHERE signature IS NOT NULL;
     CREATE INDEX IF NOT EXISTS jobfailures_run ON jobfailures (run_id);",
    // 5 -> 6: notifications on transitions: pair states, transitions, the outbox (see schema.sql).
    "CREATE TABLE IF NOT EXISTS pairstates (
         workflow_id   INTEGER NOT NULL,
         branch_id     INTEGER NOT NULL,
         state         TEXT    NOT NULL,
         since         INTEGER NOT NULL,
         run_id        INTEGER NOT NULL,
         firstredrun   INTEGER,
         flapping      INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (workflow_id, branch_id)
     ) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS transitions (
         id          INTEGER PRIMARY KEY,
         workflow_id INTEGER NOT NULL,
         branch_id   INTEGER NOT NULL,
         kind        TEXT    NOT NULL,
         run_id      INTEGER NOT NULL,
         notified    INTEGER NOT NULL,
         createtime  INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS transitions_pair ON transitions (workflow_id, branch_id, createtime);
     CREATE TABLE IF NOT EXISTS outbox (
         id            INTEGER PRIMARY KEY,
         transition_id INTEGER NOT NULL REFERENCES transitions(id) ON DELETE CASCADE,
         target        TEXT    NOT NULL,
         payload       TEXT    NOT NULL,
         createtime    INTEGER NOT NULL,
         attempts      INTEGER NOT NULL DEFAULT 0,
         nextattempt   INTEGER NOT NULL,
         senttime      INTEGER,
         failedtime    INTEGER,
         lasterror     TEXT,
         UNIQUE (transition_id, target)
     );
     CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (nextattempt)
         WHERE senttime IS NULL AND failedtime IS NULL;",
    // 6 -> 7: display and API tokens; the GitHub App, its installations and their repositories,
    // sign-in sessions (see schema.sql).
    MIGRATION_6_TO_7,
    // 7 -> 8: job logs kept for the run page, claims on reds, the settings page's log,
    // per-repository telemetry secrets (see schema.sql).
    MIGRATION_7_TO_8,
    // 8 -> 9: runner samples in under 64 bytes each: counters as differences, repeated memory
    // totals as NULL, and each job's tail (see schema.sql).
    MIGRATION_8_TO_9,
];

/// Migration 8 -> 9: `jobsamples` rewritten in the version-9 form (the same table as in
/// `schema.sql`), and `jobsampletails` filled from it. SQLite has no `IGNORE NULLS`, so "the
/// job's previous sample that carried the value" is a correlated subquery walking the primary
/// key backwards. A version-8 sample without `mem_total` reads back the last total before it.
const MIGRATION_8_TO_9: &str = "ALTER TABLE jobsamples RENAME TO jobsamples_v8;
CREATE TABLE jobsamples (
    job_id     INTEGER NOT NULL,                -- GitHub job id (= the token's check_run_id)
    t          INTEGER NOT NULL,                -- epoch seconds
    cpu_user   INTEGER,                         -- CPU user %, in hundredths (1234 = 12.34 %)
    cpu_system INTEGER,                         -- CPU system %, in hundredths
    mem_used   INTEGER,                         -- bytes
    mem_total  INTEGER,                         -- bytes; NULL: the job's last stored total before
    disk_read  INTEGER,                         -- bytes since the job's previous sample with it;
    disk_write INTEGER,                         --   NULL when the sample did not post it
    net_rx     INTEGER,
    net_tx     INTEGER,
    extra      TEXT,                            -- other fields of the sample, JSON; NULL when none
    PRIMARY KEY (job_id, t)
) WITHOUT ROWID;
INSERT INTO jobsamples (job_id, t, cpu_user, cpu_system, mem_used, mem_total,
                        disk_read, disk_write, net_rx, net_tx, extra)
SELECT s.job_id, s.t, s.cpu_user, s.cpu_system, s.mem_used,
       CASE WHEN s.mem_total IS (SELECT p.mem_total FROM jobsamples_v8 p
                                 WHERE p.job_id = s.job_id AND p.t < s.t
                                   AND p.mem_total IS NOT NULL ORDER BY p.t DESC LIMIT 1)
            THEN NULL ELSE s.mem_total END,
       s.disk_read - COALESCE((SELECT p.disk_read FROM jobsamples_v8 p
                               WHERE p.job_id = s.job_id AND p.t < s.t
                                 AND p.disk_read IS NOT NULL ORDER BY p.t DESC LIMIT 1), 0),
       s.disk_write - COALESCE((SELECT p.disk_write FROM jobsamples_v8 p
                                WHERE p.job_id = s.job_id AND p.t < s.t
                                  AND p.disk_write IS NOT NULL ORDER BY p.t DESC LIMIT 1), 0),
       s.net_rx - COALESCE((SELECT p.net_rx FROM jobsamples_v8 p
                            WHERE p.job_id = s.job_id AND p.t < s.t
                              AND p.net_rx IS NOT NULL ORDER BY p.t DESC LIMIT 1), 0),
       s.net_tx - COALESCE((SELECT p.net_tx FROM jobsamples_v8 p
                            WHERE p.job_id = s.job_id AND p.t < s.t
                              AND p.net_tx IS NOT NULL ORDER BY p.t DESC LIMIT 1), 0),
       s.extra
FROM jobsamples_v8 s ORDER BY s.job_id, s.t;
DROP TABLE jobsamples_v8;
CREATE TABLE IF NOT EXISTS jobsampletails (
    job_id     INTEGER PRIMARY KEY,             -- GitHub job id
    t          INTEGER NOT NULL,                -- the job's latest sample's time
    samples    INTEGER NOT NULL,                -- rows of the job in `jobsamples`
    disk_read  INTEGER,                         -- cumulative value of the latest sample that
    disk_write INTEGER,                         --   carried the counter; NULL when none did
    net_rx     INTEGER,
    net_tx     INTEGER,
    mem_total  INTEGER                          -- the latest sample's total (carried forward)
);
INSERT INTO jobsampletails (job_id, t, samples, disk_read, disk_write, net_rx, net_tx, mem_total)
SELECT s.job_id, MAX(s.t), COUNT(*), SUM(s.disk_read), SUM(s.disk_write), SUM(s.net_rx),
       SUM(s.net_tx),
       (SELECT p.mem_total FROM jobsamples p WHERE p.job_id = s.job_id
          AND p.mem_total IS NOT NULL ORDER BY p.t DESC LIMIT 1)
FROM jobsamples s GROUP BY s.job_id;";

/// Migration 7 -> 8: new tables only, the same statements as in `schema.sql`.
const MIGRATION_7_TO_8: &str = "CREATE TABLE IF NOT EXISTS joblogs (
    job_id    INTEGER PRIMARY KEY,              -- GitHub job id
    fetchtime INTEGER NOT NULL,                 -- epoch seconds
    status    INTEGER NOT NULL,                 -- GitHub's answer: 200, 403, 404 or 410
    truncated INTEGER NOT NULL DEFAULT 0,       -- 1 when lines outside the failing step were cut
    bytes     INTEGER NOT NULL DEFAULT 0,       -- length of body
    body      BLOB                              -- the kept log text; NULL unless status is 200
);
CREATE INDEX IF NOT EXISTS joblogs_fetchtime ON joblogs (fetchtime);

CREATE TABLE IF NOT EXISTS claims (
    first_red_run INTEGER PRIMARY KEY,          -- workflowruns.id
    login         TEXT    NOT NULL,
    claimtime     INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS settingslog (
    id         INTEGER PRIMARY KEY,
    key        TEXT    NOT NULL,
    value      TEXT,                            -- NULL: reset to the default
    changedby  TEXT    NOT NULL,
    changetime INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS telemetrysecrets (
    repo_id    INTEGER PRIMARY KEY,             -- repos.id
    secrethash TEXT    NOT NULL UNIQUE,         -- hex SHA-256
    createdby  TEXT    NOT NULL,
    createtime INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS queuestates (
    labelkey   TEXT    PRIMARY KEY,             -- the label set, sorted, as JSON
    labels     TEXT    NOT NULL,                -- as its newest job gave them, JSON
    since      INTEGER NOT NULL,                -- when it was found over (epoch seconds)
    maxwait    INTEGER NOT NULL                 -- the longest wait seen since (seconds)
) WITHOUT ROWID;";

/// Migration 6 -> 7: new tables only, the same statements as in `schema.sql`.
const MIGRATION_6_TO_7: &str = "CREATE TABLE IF NOT EXISTS accesstokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    repos      TEXT,
    tokenhash  TEXT    NOT NULL UNIQUE,
    cookiehash TEXT    NOT NULL UNIQUE,
    createtime INTEGER NOT NULL,
    revoketime INTEGER
);

-- The GitHub App made through /setup (at most one row). Its secrets (client secret, webhook secret,
-- private key) are read only by `src/github/app.rs` and never leave the process; the database file
-- is created readable by its owner only (mode 0600).
CREATE TABLE IF NOT EXISTS githubapp (
    slot          INTEGER PRIMARY KEY CHECK (slot = 1),
    app_id        INTEGER NOT NULL,
    slug          TEXT    NOT NULL,
    clientid      TEXT    NOT NULL,
    clientsecret  TEXT    NOT NULL,
    webhooksecret TEXT    NOT NULL,
    privatekey    TEXT    NOT NULL,             -- PEM (PKCS#1) as GitHub issued it
    htmlurl       TEXT,
    createtime    INTEGER NOT NULL
);

-- Installations of the App, from `installation` deliveries (and checked through the API).
CREATE TABLE IF NOT EXISTS installations (
    id          INTEGER PRIMARY KEY,            -- GitHub's installation id
    account     TEXT    NOT NULL,               -- the user or organisation login
    suspended   INTEGER NOT NULL DEFAULT 0,
    createtime  INTEGER NOT NULL,
    deletedtime INTEGER                         -- NULL while installed
);

-- Repositories an installation gives access to, and their background backfill's progress.
CREATE TABLE IF NOT EXISTS installationrepos (
    fullname        TEXT    PRIMARY KEY,        -- owner/name
    installation_id INTEGER NOT NULL,
    backfillstate   TEXT    NOT NULL DEFAULT 'queued', -- queued, running, done, failed
    backfillruns    INTEGER NOT NULL DEFAULT 0,
    backfilldone    INTEGER,                    -- when the backfill finished
    backfillerror   TEXT
) WITHOUT ROWID;

-- Signed-in people (sign in with GitHub). The cookie holds a random id; only its SHA-256 is kept.
CREATE TABLE IF NOT EXISTS sessions (
    idhash        TEXT    PRIMARY KEY,
    login         TEXT    NOT NULL,
    usertoken     TEXT    NOT NULL,
    refreshtoken  TEXT,
    expiretime    INTEGER,                      -- when the user token expires (8 h)
    createtime    INTEGER NOT NULL
) WITHOUT ROWID;

-- Runner telemetry: the samples each job posts.
CREATE TABLE IF NOT EXISTS jobsamples (
    job_id     INTEGER NOT NULL,                -- GitHub job id (= the token's check_run_id)
    t          INTEGER NOT NULL,                -- epoch seconds
    cpu_user   INTEGER,                         -- CPU user %, in hundredths (1234 = 12.34 %)
    cpu_system INTEGER,                         -- CPU system %, in hundredths
    mem_used   INTEGER,                         -- bytes
    mem_total  INTEGER,                         -- bytes
    disk_read  INTEGER,                         -- bytes since the sampler started
    disk_write INTEGER,
    net_rx     INTEGER,
    net_tx     INTEGER,
    extra      TEXT,                            -- other fields of the sample, JSON; NULL when none
    PRIMARY KEY (job_id, t)
) WITHOUT ROWID;";

/// Migration 3 -> 4. Runs by sha find their commits through the (repository, hash) key, so the
/// hash-only index goes: its random inserts rewrote a page per new commit. Version-1 UUID delivery
/// ids are stored with their timestamp's most significant fields first, so that new ids append to
/// the index (see `write::delivery_key`); the ids stored before are rewritten the same way, so that
/// their redeliveries are still recognised. The GLOB is `delivery_key`'s test for a version-1 UUID.
const MIGRATION_3_TO_4: &str = "DROP INDEX IF EXISTS commits_gitid;
     UPDATE deliveries
     SET id = substr(id, 16, 3) || substr(id, 10, 4) || substr(id, 1, 8) || substr(id, 19)
     WHERE length(id) = 36 AND id GLOB
         '[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]-'
      || '[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]-1[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]-'
      || '[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]-'
      || '[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]'
      || '[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]';";

/// The version this build writes.
pub const LATEST_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

/// Brings the database at `path` to [`LATEST_VERSION`].
///
/// # Errors
/// [`Error::TooNew`] for a database from a newer buildboard; SQL errors otherwise.
pub fn apply(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > LATEST_VERSION {
        return Err(Error::TooNew {
            path: path.to_owned(),
            found: version,
            supported: LATEST_VERSION,
        });
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if version >= 1 {
        for (index, step) in MIGRATIONS.iter().enumerate().skip((version - 1) as usize) {
            tracing::info!(
                from = index + 1,
                to = index + 2,
                "migrating the database schema"
            );
            tx.execute_batch(step)?;
        }
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", LATEST_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `schema.sql` as released with version 1.
    const SCHEMA_V1: &str = include_str!("../../tests/fixtures/schema-v1.sql");

    /// Names of the schema objects of `kind` (`table`, `index`), sorted.
    fn names(conn: &Connection, kind: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = ?1 ORDER BY name")
            .unwrap();
        stmt.query_map([kind], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn tables(conn: &Connection) -> Vec<String> {
        names(conn, "table")
    }

    fn indexes(conn: &Connection) -> Vec<String> {
        names(conn, "index")
    }

    #[test]
    fn a_version_1_database_migrates_to_the_latest_version_without_losing_rows() {
        // Arrange: a database made by the version-1 schema, with rows in it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO repos (id, fullname, createtime) VALUES (1, 'o/r', 10);
             INSERT INTO branches (repo_id, name, createtime) VALUES (1, 'main', 10);
             INSERT INTO settings (key, value) VALUES ('webhook_secret', 's');
             INSERT INTO deliveries (id, event, receivedtime) VALUES
                 ('72d3162e-cc78-11e3-81ab-4c9367dc0958', 'push', 10), ('d-2', 'push', 10);",
        )
        .unwrap();
        assert!(!tables(&conn).contains(&"httpcache".to_owned()));

        // Act
        apply(&mut conn, &path).unwrap();

        // Assert
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, LATEST_VERSION);
        assert_eq!(LATEST_VERSION, 9);
        assert!(tables(&conn).contains(&"jobsampletails".to_owned()));
        assert!(tables(&conn).contains(&"joblogs".to_owned()));
        assert!(tables(&conn).contains(&"claims".to_owned()));
        assert!(tables(&conn).contains(&"accesstokens".to_owned()));
        assert!(tables(&conn).contains(&"jobsamples".to_owned()));
        assert!(tables(&conn).contains(&"outbox".to_owned()));
        assert!(tables(&conn).contains(&"jobfailures".to_owned()));
        let all = tables(&conn);
        let indexes = indexes(&conn);
        for (replacement, replaced) in [
            ("workflowruns_repo_figures", "workflowruns_repo"),
            ("workflowruns_created_figures", "workflowruns_createtime"),
        ] {
            assert!(
                indexes.contains(&replacement.to_owned())
                    && !indexes.contains(&replaced.to_owned()),
                "{indexes:?}"
            );
        }
        assert!(all.contains(&"httpcache".to_owned()), "{all:?}");
        assert!(all.contains(&"backfillwindows".to_owned()), "{all:?}");
        assert!(all.contains(&"workflowsteps".to_owned()), "{all:?}");
        let rows: i64 = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM repos) + (SELECT COUNT(*) FROM branches)
                      + (SELECT COUNT(*) FROM settings) + (SELECT COUNT(*) FROM deliveries)",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(rows, 5);
        // Delivery ids stored before 4 are rekeyed: their redeliveries are still recognised.
        for id in ["72d3162e-cc78-11e3-81ab-4c9367dc0958", "d-2"] {
            assert!(
                !super::super::write::record_delivery(&conn, id, "push", 20).unwrap(),
                "{id} was not recognised after the migration"
            );
        }
    }

    #[test]
    fn the_migration_and_schema_sql_create_the_same_tables() {
        let migrated = Connection::open_in_memory().unwrap();
        migrated.execute_batch(SCHEMA_V1).unwrap();
        for step in MIGRATIONS {
            migrated.execute_batch(step).unwrap();
        }
        migrated.execute_batch(SCHEMA).unwrap();
        let fresh = Connection::open_in_memory().unwrap();
        fresh.execute_batch(SCHEMA).unwrap();
        assert_eq!(tables(&migrated), tables(&fresh));
        assert_eq!(
            indexes(&migrated),
            indexes(&fresh),
            "no index is left behind"
        );
    }

    #[test]
    fn version_8_samples_migrate_to_differences_and_read_back_as_they_were() {
        use super::super::samples::{count, for_job, insert, Sample};
        // Arrange: a version-8 database with samples of two jobs: counters left out, a counter
        // restarting from zero, a memory total that changes and one left out.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v8.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        for step in &MIGRATIONS[..7] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", 8).unwrap();
        conn.execute_batch(
            "INSERT INTO jobsamples VALUES
                 (30000000001, 100, 1234, 150, 500, 8000, 10, 20, NULL, 40, '{\"gpu\":3}'),
                 (30000000001, 105, 1300, 150, 600, 8000, NULL, 25, 5, 41, NULL),
                 (30000000001, 110, NULL, NULL, 700, 16000, 30, 0, 9, NULL, NULL),
                 (30000000001, 115, 1400, 160, 800, NULL, 35, 7, NULL, 50, NULL),
                 (30000000001, 120, 1500, 170, 900, 8000, 36, 8, 12, 52, NULL),
                 (30000000002, 100, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                 (30000000002, 101, 1, 2, 3, 4, 5, 6, 7, 8, NULL);",
        )
        .unwrap();
        let v8: Vec<Vec<Option<i64>>> = {
            let mut stmt = conn
                .prepare(
                    "SELECT t, mem_total, disk_read, disk_write, net_rx, net_tx
                     FROM jobsamples ORDER BY job_id, t",
                )
                .unwrap();
            stmt.query_map([], |row| (0..6).map(|i| row.get(i)).collect())
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };

        // Act
        apply(&mut conn, &path).unwrap();

        // Assert
        let read: Vec<Sample> = [30000000001, 30000000002]
            .into_iter()
            .flat_map(|job| for_job(&conn, job).unwrap())
            .collect();
        let got: Vec<Vec<Option<i64>>> = read
            .iter()
            .map(|s| {
                vec![
                    Some(s.t),
                    s.mem_total,
                    s.disk_read,
                    s.disk_write,
                    s.net_rx,
                    s.net_tx,
                ]
            })
            .collect();
        let mut expected = v8.clone();
        expected[3][1] = Some(16000); // a sample without a total shows the last one before it
        assert_eq!(got, expected);
        assert_eq!(read[0].cpu_user, Some(12.34));
        assert_eq!(read[0].extra["gpu"], 3);
        assert_eq!(read[2].cpu_user, None);
        let stored: Option<i64> = conn
            .query_row(
                "SELECT disk_write FROM jobsamples WHERE job_id = 30000000001 AND t = 110",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(stored, Some(-25), "a difference, negative after a restart");
        assert_eq!(count(&conn, 30000000001).unwrap(), 5);
        assert_eq!(count(&conn, 30000000002).unwrap(), 2);
        // The tails are right: appending goes on from them.
        let mut next = Sample::at(125);
        next.disk_read = Some(40);
        next.net_tx = Some(60);
        assert_eq!(insert(&conn, 30000000001, &[next]).unwrap(), 1);
        let last = for_job(&conn, 30000000001).unwrap().pop().unwrap();
        assert_eq!(
            (last.disk_read, last.disk_write, last.net_tx, last.mem_total),
            (Some(40), None, Some(60), Some(8000))
        );
    }
}
