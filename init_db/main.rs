//! `init_db`: create (or migrate) a buildboard database and backfill it from GitHub's REST API.
//! A thin shell over the library: flags here, the work in `buildboard::backfill`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use buildboard::backfill::{self, Db, Options, Progress, Summary};
use buildboard::config::Secret;
use buildboard::github::client::{Client, ClientConfig, DEFAULT_API_URL};
use buildboard::github::event::Timestamp;
use buildboard::store::{migrate, Store};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

/// Create a buildboard database, and fill it with the history of GitHub repositories.
///
/// Without -r or --org it only creates (-i) or migrates the database. With -r (or --org, every
/// repository of an organisation) it backfills each repository
/// from GitHub's REST API: workflows, branches, workflow runs with their head commits, and with
/// --jobs each run's jobs. Backfilled rows are the rows webhooks write, so running it again, or
/// beside a running server, changes only what GitHub changed. Stopped halfway (Ctrl-C, network
/// error), the next run continues where it stopped. A repeated run is cheap: unchanged pages are
/// answered 304 Not Modified, which does not count against GitHub's rate limit.
///
/// Example: GITHUB_TOKEN=... init_db --db builds.db -i -r octo-org/octo-repo --since 2024-01-01
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// SQLite database file.
    #[arg(long, env = "BUILDBOARD_DB", default_value = "buildboard.db")]
    db: PathBuf,

    /// Create the database from schema.sql if it does not exist. An existing database is never
    /// deleted or emptied by this flag (see --wipe).
    #[arg(short = 'i', long)]
    init: bool,

    /// DESTRUCTIVE: delete an existing database (and its -wal/-shm files) before --init creates a
    /// new one. All stored history is lost, webhook data included.
    #[arg(long, requires = "init")]
    wipe: bool,

    /// Repository to backfill, as owner/name. Repeat for several: -r a/b -r a/c.
    #[arg(short = 'r', long = "repo", value_name = "OWNER/NAME")]
    repos: Vec<String>,

    /// Organisation whose repositories to backfill, every one the token can see (archived ones
    /// left out), besides any -r. Repeat for several.
    #[arg(long = "org", value_name = "ORG")]
    orgs: Vec<String>,

    /// GitHub token (classic with `repo` scope for private repositories, or fine-grained with read
    /// access to Actions and Contents). Prefer the GITHUB_TOKEN environment variable: a token on
    /// the command line is kept in shell history and visible in `ps`. Without one, GitHub allows
    /// 60 requests per hour.
    #[arg(short = 'k', long, env = "GITHUB_TOKEN", hide_env_values = true)]
    token: Option<Secret>,

    /// Only runs created on or after this date: YYYY-MM-DD (UTC) or an RFC 3339 time. Default:
    /// the whole history, back to the repository's creation.
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    since: Option<i64>,

    /// Also fetch each run's jobs (one request per run), for real queue times.
    #[arg(long)]
    jobs: bool,

    /// GitHub REST API base URL. For GitHub Enterprise Server: https://HOST/api/v3.
    #[arg(long, env = "GITHUB_API_URL", default_value = DEFAULT_API_URL)]
    api_url: String,
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339, as epoch seconds.
fn parse_since(text: &str) -> Result<i64, String> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp());
    }
    Timestamp::parse(text)
        .map(|t| t.0)
        .ok_or_else(|| format!("{text:?} is not a date: use YYYY-MM-DD or 2024-01-31T12:00:00Z"))
}

/// The arguments with `-db` (the spelling of the design this project grew from, which clap would
/// read as `-d -b`) turned into `--db`, with a note on stderr.
fn compatible_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    args.into_iter()
        .map(|arg| match arg.to_str() {
            Some("-db") => {
                eprintln!("init_db: note: reading `-db` as `--db`");
                "--db".into()
            }
            Some(text) if text.starts_with("-db=") => {
                eprintln!("init_db: note: reading `-db=` as `--db=`");
                format!("-{text}").into()
            }
            _ => arg,
        })
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse_from(compatible_args(std::env::args_os()));
    buildboard::telemetry::init();
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            // One line that says what went wrong and what to do: the causes joined by ": ".
            eprintln!("init_db: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.wipe {
        wipe(&args.db)?;
    }
    anyhow::ensure!(
        args.init || args.db.exists(),
        "{} does not exist; pass -i/--init to create it",
        args.db.display()
    );
    let store = Store::open(&args.db).with_context(|| format!("opening {}", args.db.display()))?;
    tracing::info!(db = %store.path().display(), version = migrate::LATEST_VERSION, "database ready");
    if args.repos.is_empty() && args.orgs.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if args.token.is_none() {
        tracing::warn!("no GITHUB_TOKEN: anonymous requests are limited to 60 per hour");
    }
    let client = Client::new(ClientConfig::new(args.api_url.clone(), args.token.clone()))?;
    let db = Db::new(
        store
            .open_writer()
            .context("opening the database for writing")?,
    );
    let options = Options {
        since: args.since,
        jobs: args.jobs,
        ..Options::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let mut repos = args.repos.clone();
        for org in &args.orgs {
            let found = backfill::org_repos(&client, org)
                .await
                .with_context(|| format!("listing the repositories of {org}"))?;
            tracing::info!(org, repos = found.len(), "backfilling an organisation");
            repos.extend(found.into_iter().filter(|repo| !args.repos.contains(repo)));
        }
        let progress = Report::new();
        let mut total = Summary::default();
        for repo in &repos {
            let work = backfill::backfill_repo(&client, &db, repo, &options, &progress);
            let summary = tokio::select! {
                result = work => result.with_context(|| format!("backfilling {repo}"))?,
                _ = tokio::signal::ctrl_c() => {
                    progress.finish();
                    eprintln!("init_db: interrupted; every page fetched so far is saved, run the same command again to continue");
                    print_summary(&total, &client);
                    return Ok(ExitCode::from(130));
                }
            };
            total.add(&summary);
        }
        progress.finish();
        print_summary(&total, &client);
        Ok(ExitCode::SUCCESS)
    })
}

/// Removes the database and its WAL files (`--wipe`).
fn wipe(db: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::warn!(path = %path.display(), "--wipe: deleted"),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("deleting {}", path.display())),
        }
    }
    Ok(())
}

fn print_summary(summary: &Summary, client: &Client) {
    let stats = client.stats();
    println!(
        "runs: {} added, {} updated, {} unchanged; workflows: {}; branches: {}; jobs: {}; \
         requests: {} ({} answered 304 Not Modified, {} retried, {} rate-limit waits)",
        summary.runs_added,
        summary.runs_updated,
        summary.runs_unchanged,
        summary.workflows,
        summary.branches,
        summary.jobs,
        stats.requests,
        stats.not_modified,
        stats.retries,
        stats.waits.len()
    );
}

/// The progress bar: stage, elapsed time, bar, runs done of runs known, rate and ETA.
const BAR_TEMPLATE: &str =
    "{msg:30} [{elapsed_precise}] {wide_bar} {pos}/{len} runs ({per_sec}, ETA {eta})";

/// A progress bar on a terminal, log lines otherwise.
struct Report {
    bar: Option<ProgressBar>,
    found: AtomicU64,
    fetched: AtomicU64,
}

impl Report {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(BAR_TEMPLATE).expect("the progress template is valid"),
            );
            bar
        });
        Self {
            bar,
            found: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Report {
    fn stage(&self, repo: &str, stage: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{repo}: {stage}")),
            None => tracing::info!(repo, stage, "backfilling"),
        }
    }

    fn found(&self, runs: u64) {
        self.found.fetch_add(runs, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc_length(runs);
        }
    }

    fn fetched(&self, runs: u64) {
        let fetched = self.fetched.fetch_add(runs, Ordering::Relaxed) + runs;
        match &self.bar {
            Some(bar) => bar.inc(runs),
            None => tracing::info!(
                fetched,
                known = self.found.load(Ordering::Relaxed),
                "backfill progress"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_dates_and_rfc3339_times() {
        assert_eq!(parse_since("2020-01-22"), Ok(1_579_651_200));
        assert_eq!(parse_since("2020-01-22T19:33:08Z"), Ok(1_579_721_588));
        assert!(parse_since("last week").is_err());
    }

    #[test]
    fn the_old_single_dash_db_spelling_is_read_as_db() {
        let args = Args::try_parse_from(compatible_args(
            ["init_db", "-db", "builds.db", "-r", "o/r", "-i"].map(Into::into),
        ))
        .unwrap();
        assert_eq!(args.db, PathBuf::from("builds.db"));
        assert!(args.init);
        let args =
            Args::try_parse_from(compatible_args(["init_db", "-db=x.db"].map(Into::into))).unwrap();
        assert_eq!(args.db, PathBuf::from("x.db"));
    }

    #[test]
    fn the_progress_bar_template_is_valid() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
    }

    #[test]
    fn the_help_explains_every_flag() {
        use clap::CommandFactory;
        let help = Args::command().render_long_help().to_string();
        for flag in [
            "--db",
            "--init",
            "--wipe",
            "--repo",
            "--org",
            "--token",
            "--since",
            "--jobs",
            "--api-url",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
        }
        assert!(help.contains("GITHUB_TOKEN"));
    }
}
