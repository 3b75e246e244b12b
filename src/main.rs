//! The `buildboard` server binary: parse settings, start logging, build the app, serve.

use std::path::Path;

use anyhow::Context;
use buildboard::config::{Cli, Command, Config};
use buildboard::store::{self, maintenance, Store};
use buildboard::{telemetry, App};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    settle_flags_before_subcommand(&mut cli, &matches)?;
    // The one setting without a flag: a flag would show up in `ps`.
    cli.config.analysis_key = std::env::var(buildboard::analysis::KEY_ENV)
        .ok()
        .filter(|key| !key.trim().is_empty())
        .map(buildboard::config::Secret::new);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(store::BLOCKING_THREADS)
        .build()
        .context("starting the async runtime")?
        .block_on(run(cli))
}

/// Server settings `buildboard demo` sets itself, by clap id and flag.
const DEMO_OWN_SETTINGS: &[(&str, &str)] = &[
    ("webhook_secret", "--webhook-secret"),
    ("webhook_secret_file", "--webhook-secret-file"),
    ("insecure_allow_unsigned", "--insecure-allow-unsigned"),
    ("github_token", "--github-token"),
    ("webhook_rate_limit", "--webhook-rate-limit"),
];

/// A server flag given before a subcommand is honoured or refused, never silently dropped:
/// `buildboard --listen A demo` serves the demo on A (unless `demo --listen` says otherwise), and
/// `buildboard --db F demo` is refused, since the demo keeps its own database (`demo --db`).
///
/// # Errors
/// For a flag the subcommand cannot honour.
fn settle_flags_before_subcommand(cli: &mut Cli, matches: &ArgMatches) -> anyhow::Result<()> {
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    if let Some(Command::Demo(args)) = &mut cli.command {
        let demo = matches
            .subcommand_matches("demo")
            .expect("the demo subcommand was parsed");
        if given("listen") && demo.value_source("listen") != Some(ValueSource::CommandLine) {
            args.listen = cli.config.listen;
        }
        anyhow::ensure!(
            !given("db"),
            "`buildboard --db FILE demo`: the demo keeps a database of its own, which it deletes \
             and recreates at every start; name it with `buildboard demo --db FILE`"
        );
        // Settings the demo sets itself: refused rather than silently replaced.
        for (id, flag) in DEMO_OWN_SETTINGS {
            anyhow::ensure!(
                !given(id),
                "`buildboard {flag} ... demo`: the demo sets {flag} itself (it makes and prints \
                 its own webhook secret, and reconciles with nothing); leave it out"
            );
        }
    }
    Ok(())
}

/// Runs the command `cli` asks for (the server by default).
async fn run(cli: Cli) -> anyhow::Result<()> {
    let format = cli.config.log_format;
    match &cli.command {
        Some(Command::Demo(_)) => telemetry::init_with(format, buildboard::demo::LOG_FILTER),
        _ => telemetry::init_with(format, "info,warp=warn"),
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            // Handlers first: a SIGTERM that comes as soon as the port answers still shuts down
            // gracefully instead of killing the process.
            let shutdown = shutdown_signal().context("installing the signal handlers")?;
            let app = App::build(cli.config).await?;
            tracing::info!(addr = %app.local_addr(), "buildboard listening; board at http://{}/", app.local_addr());
            app.run(shutdown).await
        }
        Command::Demo(args) => {
            let shutdown = shutdown_signal().context("installing the signal handlers")?;
            buildboard::demo::run(args, cli.config, shutdown).await
        }
        Command::ShowSecret => {
            anyhow::ensure!(
                cli.config.webhook_secret.is_none() && cli.config.webhook_secret_file.is_none(),
                "a webhook secret is configured through flags or the environment; that one is in use"
            );
            let store = Store::open(&cli.config.db)
                .with_context(|| format!("opening {}", cli.config.db.display()))?;
            println!("{}", buildboard::stored_or_generated_secret(&store)?);
            Ok(())
        }
        Command::Setup { reset } => setup(&cli.config, reset),
        Command::Check => check(&cli.config.db),
        Command::Backup { file } => backup(&cli.config.db, &file),
    }
}

/// `buildboard setup`: says whether a GitHub App is configured, or with `reset` forgets it.
fn setup(config: &Config, reset: bool) -> anyhow::Result<()> {
    let store =
        Store::open(&config.db).with_context(|| format!("opening {}", config.db.display()))?;
    let conn = store.open_writer()?;
    if !reset {
        let app = store::app::load_app(&conn)?;
        match app {
            Some(app) => println!(
                "GitHub App {} (id {}) is configured; `buildboard setup --reset` forgets it",
                app.slug, app.app_id
            ),
            None => println!(
                "no GitHub App is configured: start the server and open the /setup address it logs"
            ),
        }
        return Ok(());
    }
    if store::app::delete_app(&conn)? {
        println!("the GitHub App was forgotten; /setup opens at the next start (delete the App itself on GitHub, under Settings → Developer settings → GitHub Apps)");
    } else {
        println!("no GitHub App was configured; /setup is open");
    }
    Ok(())
}

/// `buildboard check`: SQLite's integrity check of `db`.
fn check(db: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(db.exists(), "no database at {}", db.display());
    let lines =
        maintenance::integrity_check(db).with_context(|| format!("checking {}", db.display()))?;
    for line in &lines {
        println!("{line}");
    }
    anyhow::ensure!(
        lines == ["ok"],
        "{} failed its integrity check; restore a backup (`buildboard backup`)",
        db.display()
    );
    Ok(())
}

/// `buildboard backup`: a consistent copy of `db` into `file`, which must not exist yet.
fn backup(db: &Path, file: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(db.exists(), "no database at {}", db.display());
    anyhow::ensure!(
        !file.exists(),
        "{} already exists; choose a new file",
        file.display()
    );
    maintenance::backup(db, file)
        .with_context(|| format!("backing up {} to {}", db.display(), file.display()))?;
    println!("backed up {} to {}", db.display(), file.display());
    Ok(())
}

/// Installs the SIGINT (Ctrl-C) and SIGTERM handlers now, and returns a future that completes on
/// either signal.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Cli> {
        let matches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        settle_flags_before_subcommand(&mut cli, &matches)?;
        // The one setting without a flag: a flag would show up in `ps`.
        cli.config.analysis_key = std::env::var(buildboard::analysis::KEY_ENV)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .map(buildboard::config::Secret::new);
        Ok(cli)
    }

    fn demo_listen(cli: &Cli) -> std::net::SocketAddr {
        match &cli.command {
            Some(Command::Demo(args)) => args.listen,
            other => panic!("not the demo: {other:?}"),
        }
    }

    #[test]
    fn a_listen_flag_before_demo_is_honoured_not_dropped() {
        let cli = parse(&["buildboard", "--listen", "0.0.0.0:5050", "demo"]).unwrap();
        assert_eq!(demo_listen(&cli), "0.0.0.0:5050".parse().unwrap());
        // The demo's own flag wins when both are given.
        let cli = parse(&[
            "buildboard",
            "--listen",
            "0.0.0.0:5050",
            "demo",
            "--listen",
            "127.0.0.1:6000",
        ])
        .unwrap();
        assert_eq!(demo_listen(&cli), "127.0.0.1:6000".parse().unwrap());
        let cli = parse(&["buildboard", "demo"]).unwrap();
        assert_eq!(demo_listen(&cli), "127.0.0.1:5000".parse().unwrap());
    }

    #[test]
    fn a_db_flag_before_demo_is_refused_with_the_right_spelling() {
        let err = parse(&["buildboard", "--db", "mine.db", "demo"]).unwrap_err();
        assert!(
            err.to_string().contains("buildboard demo --db FILE"),
            "{err}"
        );
    }
}
