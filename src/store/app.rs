//! The GitHub App's rows: its credentials (from the manifest conversion), its installations and
//! their repositories with each one's background backfill, and sign-in sessions. Secrets come back
//! as [`Secret`]s, so no `Debug` of a row can print one.

use rusqlite::{Connection, OptionalExtension};

use super::Result;
use crate::secret::Secret;

/// The App GitHub made from the manifest: what `POST /app-manifests/{code}/conversions` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRow {
    pub app_id: i64,
    pub slug: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub webhook_secret: Secret,
    /// The private key, PEM.
    pub private_key: Secret,
    /// `https://github.com/apps/SLUG`.
    pub html_url: Option<String>,
}

/// The App, if one was made.
///
/// # Errors
/// On a database error.
pub fn load_app(conn: &Connection) -> Result<Option<AppRow>> {
    Ok(conn
        .query_row(
            "SELECT app_id, slug, clientid, clientsecret, webhooksecret, privatekey, htmlurl
             FROM githubapp WHERE slot = 1",
            [],
            |row| {
                Ok(AppRow {
                    app_id: row.get(0)?,
                    slug: row.get(1)?,
                    client_id: row.get(2)?,
                    client_secret: Secret::new(row.get::<_, String>(3)?),
                    webhook_secret: Secret::new(row.get::<_, String>(4)?),
                    private_key: Secret::new(row.get::<_, String>(5)?),
                    html_url: row.get(6)?,
                })
            },
        )
        .optional()?)
}

/// Stores `app` as the one App; returns `false` (and stores nothing) when one is already stored,
/// so that two racing setups cannot overwrite each other.
///
/// # Errors
/// On a database error.
pub fn save_app(conn: &Connection, app: &AppRow, now: i64) -> Result<bool> {
    let changed = conn.execute(
        "INSERT INTO githubapp (slot, app_id, slug, clientid, clientsecret, webhooksecret,
             privatekey, htmlurl, createtime)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (slot) DO NOTHING",
        rusqlite::params![
            app.app_id,
            app.slug,
            app.client_id,
            app.client_secret.expose(),
            app.webhook_secret.expose(),
            app.private_key.expose(),
            app.html_url,
            now
        ],
    )?;
    Ok(changed == 1)
}

/// Forgets the App (`buildboard setup --reset`) and every sign-in session made through it.
///
/// # Errors
/// On a database error.
pub fn delete_app(conn: &Connection) -> Result<bool> {
    conn.execute("DELETE FROM sessions", [])?;
    Ok(conn.execute("DELETE FROM githubapp", [])? > 0)
}

/// Records installation `id` on `account` as installed (again), not suspended.
///
/// # Errors
/// On a database error.
pub fn upsert_installation(conn: &Connection, id: i64, account: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO installations (id, account, suspended, createtime) VALUES (?1, ?2, 0, ?3)
         ON CONFLICT (id) DO UPDATE SET account = excluded.account, suspended = 0,
             deletedtime = NULL",
        (id, account, now),
    )?;
    Ok(())
}

/// Marks installation `id` suspended (or not).
///
/// # Errors
/// On a database error.
pub fn set_suspended(conn: &Connection, id: i64, suspended: bool) -> Result<()> {
    conn.execute(
        "UPDATE installations SET suspended = ?2 WHERE id = ?1",
        (id, suspended),
    )?;
    Ok(())
}

/// Marks installation `id` deleted and forgets which repositories it gave; returns them.
///
/// # Errors
/// On a database error.
pub fn delete_installation(conn: &Connection, id: i64, now: i64) -> Result<Vec<String>> {
    conn.execute(
        "UPDATE installations SET deletedtime = ?2 WHERE id = ?1",
        (id, now),
    )?;
    let repos = installation_repos(conn, id)?;
    conn.execute(
        "DELETE FROM installationrepos WHERE installation_id = ?1",
        [id],
    )?;
    Ok(repos)
}

/// The repositories installation `id` gives.
///
/// # Errors
/// On a database error.
pub fn installation_repos(conn: &Connection, id: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT fullname FROM installationrepos WHERE installation_id = ?1 ORDER BY fullname",
    )?;
    let rows = stmt.query_map([id], |row| row.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether installation `id` is known, installed and not suspended.
///
/// # Errors
/// On a database error.
pub fn installation_active(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM installations WHERE id = ?1 AND deletedtime IS NULL AND suspended = 0",
            [id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Records that installation `id` gives `fullname`, queued for backfill (a repository already
/// recorded keeps its backfill state). Returns whether it is new.
///
/// # Errors
/// On a database error.
pub fn add_installation_repo(conn: &Connection, id: i64, fullname: &str) -> Result<bool> {
    let before = installation_of(conn, fullname)?;
    conn.execute(
        "INSERT INTO installationrepos (fullname, installation_id) VALUES (?1, ?2)
         ON CONFLICT (fullname) DO UPDATE SET installation_id = excluded.installation_id",
        (fullname, id),
    )?;
    Ok(before.is_none())
}

/// Forgets that `fullname` is given by an installation.
///
/// # Errors
/// On a database error.
pub fn remove_installation_repo(conn: &Connection, fullname: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM installationrepos WHERE fullname = ?1",
        [fullname],
    )?;
    Ok(())
}

/// The installation that gives `fullname`, if it is active.
///
/// # Errors
/// On a database error.
pub fn installation_of(conn: &Connection, fullname: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT r.installation_id FROM installationrepos r
             JOIN installations i ON i.id = r.installation_id
             WHERE r.fullname = ?1 AND i.deletedtime IS NULL AND i.suspended = 0",
            [fullname],
            |row| row.get(0),
        )
        .optional()?)
}

/// Every repository an active installation gives, with its installation.
///
/// # Errors
/// On a database error.
pub fn installation_map(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.fullname, r.installation_id FROM installationrepos r
         JOIN installations i ON i.id = r.installation_id
         WHERE i.deletedtime IS NULL AND i.suspended = 0",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A repository's background backfill, as `GET /api/repos` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackfillState {
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Runs written so far.
    pub runs: i64,
    /// When it finished (epoch seconds).
    pub done_at: Option<i64>,
}

/// Records a backfill's progress for `fullname`.
///
/// # Errors
/// On a database error.
pub fn set_backfill(
    conn: &Connection,
    fullname: &str,
    state: &str,
    runs: i64,
    done_at: Option<i64>,
    error: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE installationrepos SET backfillstate = ?2, backfillruns = ?3, backfilldone = ?4,
             backfillerror = ?5
         WHERE fullname = ?1",
        rusqlite::params![fullname, state, runs, done_at, error],
    )?;
    Ok(())
}

/// Every backfill state, by repository full name.
///
/// # Errors
/// On a database error.
pub fn backfill_states(
    conn: &Connection,
) -> Result<std::collections::HashMap<String, BackfillState>> {
    let mut stmt = conn.prepare_cached(
        "SELECT fullname, backfillstate, backfillruns, backfilldone FROM installationrepos",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            BackfillState {
                state: row.get(1)?,
                runs: row.get(2)?,
                done_at: row.get(3)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Repositories whose backfill has not finished (queued, running when the server stopped, or
/// failed), with their installation: resumed at start.
///
/// # Errors
/// On a database error.
pub fn unfinished_backfills(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT fullname, installation_id FROM installationrepos
         WHERE backfillstate IN ('queued', 'running') ORDER BY fullname",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A signed-in person's session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub login: String,
    pub user_token: Secret,
    pub refresh_token: Option<Secret>,
    /// When the user token expires (epoch seconds); `None` when GitHub gave no expiry.
    pub expires_at: Option<i64>,
}

/// Stores a session under the hash of its id.
///
/// # Errors
/// On a database error.
pub fn save_session(
    conn: &Connection,
    id_hash: &str,
    session: &SessionRow,
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO sessions (idhash, login, usertoken, refreshtoken, expiretime, createtime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (idhash) DO UPDATE SET login = excluded.login,
             usertoken = excluded.usertoken, refreshtoken = excluded.refreshtoken,
             expiretime = excluded.expiretime",
        rusqlite::params![
            id_hash,
            session.login,
            session.user_token.expose(),
            session.refresh_token.as_ref().map(Secret::expose),
            session.expires_at,
            now
        ],
    )?;
    Ok(())
}

/// The session stored under `id_hash`.
///
/// # Errors
/// On a database error.
pub fn load_session(conn: &Connection, id_hash: &str) -> Result<Option<SessionRow>> {
    Ok(conn
        .query_row(
            "SELECT login, usertoken, refreshtoken, expiretime FROM sessions WHERE idhash = ?1",
            [id_hash],
            |row| {
                Ok(SessionRow {
                    login: row.get(0)?,
                    user_token: Secret::new(row.get::<_, String>(1)?),
                    refresh_token: row.get::<_, Option<String>>(2)?.map(Secret::new),
                    expires_at: row.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Ends the session stored under `id_hash`.
///
/// # Errors
/// On a database error.
pub fn delete_session(conn: &Connection, id_hash: &str) -> Result<()> {
    conn.execute("DELETE FROM sessions WHERE idhash = ?1", [id_hash])?;
    Ok(())
}

/// Ends every session of `login` (they revoked the App's authorisation); returns how many.
///
/// # Errors
/// On a database error.
pub fn delete_sessions_of(conn: &Connection, login: &str) -> Result<usize> {
    Ok(conn.execute("DELETE FROM sessions WHERE login = ?1", [login])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::store::memory_db()
    }

    fn app() -> AppRow {
        AppRow {
            app_id: 1,
            slug: "board".into(),
            client_id: "Iv1.x".into(),
            client_secret: Secret::new("cs"),
            webhook_secret: Secret::new("ws"),
            private_key: Secret::new("pem"),
            html_url: None,
        }
    }

    #[test]
    fn the_app_is_stored_once_and_forgotten_on_reset() {
        let conn = db();
        assert!(save_app(&conn, &app(), 1).unwrap());
        let mut other = app();
        other.slug = "other".into();
        assert!(
            !save_app(&conn, &other, 2).unwrap(),
            "a second App is refused"
        );
        assert_eq!(load_app(&conn).unwrap(), Some(app()));
        assert!(!format!("{:?}", load_app(&conn).unwrap()).contains("pem"));
        assert!(delete_app(&conn).unwrap());
        assert_eq!(load_app(&conn).unwrap(), None);
    }

    #[test]
    fn repositories_follow_their_installation() {
        let conn = db();
        upsert_installation(&conn, 7, "octo-org", 1).unwrap();
        assert!(add_installation_repo(&conn, 7, "octo-org/a").unwrap());
        assert!(!add_installation_repo(&conn, 7, "octo-org/a").unwrap());
        assert_eq!(installation_of(&conn, "octo-org/a").unwrap(), Some(7));
        set_suspended(&conn, 7, true).unwrap();
        assert_eq!(installation_of(&conn, "octo-org/a").unwrap(), None);
        set_suspended(&conn, 7, false).unwrap();
        assert_eq!(
            delete_installation(&conn, 7, 2).unwrap(),
            vec!["octo-org/a".to_owned()]
        );
        assert_eq!(installation_of(&conn, "octo-org/a").unwrap(), None);
    }
}
