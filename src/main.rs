//! The `buildboard` server binary: parse settings, start logging, build the app, serve.

use anyhow::Context;
use buildboard::config::{Cli, Command};
use buildboard::store::{maintenance, Store};
use buildboard::{telemetry, App};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = App::build(cli.config).await?;
            tracing::info!(addr = %app.local_addr(), "buildboard listening; board at http://{}/", app.local_addr());
            app.run(shutdown_signal()).await
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
        Command::Check => {
            let db = &cli.config.db;
            anyhow::ensure!(db.exists(), "no database at {}", db.display());
            let lines = maintenance::integrity_check(db)
                .with_context(|| format!("checking {}", db.display()))?;
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
        Command::Backup { file } => {
            let db = &cli.config.db;
            anyhow::ensure!(db.exists(), "no database at {}", db.display());
            anyhow::ensure!(
                !file.exists(),
                "{} already exists; choose a new file",
                file.display()
            );
            maintenance::backup(db, &file)
                .with_context(|| format!("backing up {} to {}", db.display(), file.display()))?;
            println!("backed up {} to {}", db.display(), file.display());
            Ok(())
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c()
            .await
            .expect("installing the Ctrl-C handler");
    };
    #[cfg(unix)]
    let terminate = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler")
            .recv()
            .await;
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
