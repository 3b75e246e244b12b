//! `buildboard demo`: a fresh database, the real server in-process (reading its jobs' logs from
//! the demo's own GitHub, [`super::github`]), the demo history posted through its `/webhook`, then
//! the live trickle until Ctrl-C.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngCore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{post_all, trickle, Options, Organisation, Posted, Simulation};
use crate::config::{Config, DemoArgs, Secret};
use crate::store::Store;
use crate::App;

/// The demo's log filter when `RUST_LOG` is not set: the server's, without a line per delivery
/// (the history alone is 27,000 of them).
pub const LOG_FILTER: &str = "info,warp=warn,buildboard::web::webhook=warn";

/// The setting that marks a database as the demo's, so that the demo never deletes another one.
pub const DEMO_SETTING: &str = "demo_seed";

/// Sets the server settings the demo owns in `config`: its database and address, a fresh webhook
/// secret (returned, to sign the deliveries with), its own GitHub (`github_api_url`, the fake of
/// [`super::github`], with a token it takes) and no webhook rate limit.
fn demo_config(args: &DemoArgs, config: &mut Config, github_api_url: String) -> String {
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    let secret = hex::encode(key);
    config.db = args.db.clone();
    config.listen = args.listen;
    config.webhook_secret = Some(Secret::new(secret.clone()));
    config.webhook_secret_file = None;
    config.insecure_allow_unsigned = false;
    // The demo's GitHub serves its jobs' logs (Triage's "failed at" and excerpt, the run page's
    // log) and answers the reconciler with nothing: the organisation exists only here.
    config.github_token = Some(Secret::new("demo-github-token"));
    config.github_api_url = github_api_url;
    config.webhook_rate_limit = 0;
    secret
}

/// A token cancelled once `shutdown` completes.
fn cancelled_by(shutdown: impl Future<Output = ()> + Send + 'static) -> CancellationToken {
    let token = CancellationToken::new();
    let on_signal = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.cancel();
    });
    token
}

/// Logs how posting the history went.
fn report_history(posted: &Posted) {
    for line in posted.failed.iter().take(5) {
        warn!("demo delivery refused: {line}");
    }
    info!(
        failed = posted.failed.len(),
        "demo: history posted, {} deliveries in {:.1} s ({:.0}/s)",
        posted.posted(),
        posted.elapsed.as_secs_f64(),
        posted.rate()
    );
}

/// Runs the demo until `shutdown` completes. `config` supplies the server settings the demo does
/// not set itself (`--hide-authors`, `--board-token`, ...).
///
/// # Errors
/// When the database cannot be replaced or the server cannot start.
pub async fn run(
    args: DemoArgs,
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    replace_database(&args.db)?;
    let store = Store::open(&args.db)
        .with_context(|| format!("creating the demo database {}", args.db.display()))?;
    store.set_setting(DEMO_SETTING, &args.seed.to_string())?;
    let (github_api_url, fake_github) = super::github::start(store.clone())
        .await
        .context("starting the demo's GitHub on loopback")?;
    let secret = demo_config(&args, &mut config, github_api_url);
    // Kept as the database's own secret too, so `buildboard --db DEMO.db show-secret` prints the
    // one the demo checks.
    store.set_setting(crate::WEBHOOK_SECRET_SETTING, &secret)?;
    announce_secret(&args.db, &secret)?;
    let app = App::build(config).await?;
    let addr = app.local_addr();
    // Ctrl-C stops the posting first, then the server, so that no post is cut off.
    let stop = cancelled_by(shutdown);
    let stop_server = CancellationToken::new();
    let server = tokio::spawn(app.run(stop_server.clone().cancelled_owned()));

    let org = Organisation::generate(args.seed);
    let options = Options {
        runs_per_day: args.runs_per_day,
        trickle_every: args.trickle_every.as_secs_f64().max(0.1),
        ..Options::default()
    };
    info!(
        db = %args.db.display(),
        "demo: {} with {} repositories and {} workflows; board at http://{addr}/",
        org.login,
        org.repos.len(),
        org.workflow_count()
    );
    let mut simulation = Simulation::new(org, args.seed, options);
    let history = simulation.history(chrono::Utc::now().timestamp());
    let total = history.len();
    info!(
        "demo: posting a week of history, {total} signed deliveries ({} runs), through /webhook",
        simulation.stats().runs
    );
    let client = reqwest::Client::new();
    let url = format!("http://{}/webhook", reachable(addr));
    let posting = post_all(
        &client,
        &url,
        secret.as_bytes(),
        history,
        args.concurrency,
        |done| {
            if done % 5_000 == 0 {
                info!("demo: {done} of {total} deliveries posted");
            }
        },
    );
    tokio::select! {
        posted = posting => report_history(&posted),
        () = stop.cancelled() => {}
    }
    if args.no_trickle {
        info!("demo: serving the history without live events (--no-trickle); Ctrl-C to stop");
        stop.cancelled().await;
    } else if !stop.is_cancelled() {
        info!(
            "demo: live events every {:?} or so; Ctrl-C to stop",
            args.trickle_every
        );
        trickle(
            &mut simulation,
            &client,
            &url,
            secret.as_bytes(),
            stop.cancelled(),
        )
        .await;
    }
    drop(client);
    stop_server.cancel();
    let served = server.await.context("the server task")?;
    fake_github.abort();
    served
}

/// Where the demo writes its webhook secret: next to its database, `DB.secret`.
pub fn secret_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".secret");
    PathBuf::from(name)
}

/// Prints the demo's webhook secret and writes it next to the database (mode 0600), so that
/// anyone may post a delivery of their own into the demo (a test failure, say).
fn announce_secret(db: &Path, secret: &str) -> anyhow::Result<()> {
    let path = secret_file(db);
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("writing the demo's webhook secret to {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{secret}\n").as_bytes())?;
    println!(
        "demo webhook secret: {secret} (also in {}); sign your own deliveries with it",
        path.display()
    );
    Ok(())
}

/// Deletes `db` (and its WAL files) if it is a demo database; refuses any other file.
fn replace_database(db: &Path) -> anyhow::Result<()> {
    if !db.exists() {
        return Ok(());
    }
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {}", db.display()))?;
    let marked = conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [DEMO_SETTING],
            |_| Ok(()),
        )
        .is_ok();
    drop(conn);
    anyhow::ensure!(
        marked,
        "{} exists and is not a demo database; the demo replaces its database at every start, so \
         pass another --db or remove that file yourself",
        db.display()
    );
    info!(db = %db.display(), "demo: replacing the previous demo database");
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        match std::fs::remove_file(&path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(err)
                    .with_context(|| format!("removing {}", Path::new(&path).display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The address to post to: loopback when the server listens on every interface.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_refuses_to_replace_a_database_it_did_not_make() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("buildboard.db");
        Store::open(&theirs).unwrap();
        let ours = dir.path().join("buildboard-demo.db");
        Store::open(&ours)
            .unwrap()
            .set_setting(DEMO_SETTING, "1")
            .unwrap();

        // Act
        let refused = replace_database(&theirs);
        let replaced = replace_database(&ours);

        // Assert
        assert!(refused
            .unwrap_err()
            .to_string()
            .contains("not a demo database"));
        assert!(theirs.exists());
        replaced.unwrap();
        assert!(!ours.exists());
        replace_database(&ours).unwrap();
    }
}
