//! `init_db`: create (or migrate) a buildboard database. A thin shell over the library.

use std::path::PathBuf;

use anyhow::Context;
use buildboard::store::{migrate, Store};
use clap::Parser;

/// Create a buildboard database from schema.sql, or bring an existing one to the current schema.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// SQLite database file.
    #[arg(long, env = "BUILDBOARD_DB", default_value = "buildboard.db")]
    db: PathBuf,
    /// Create the database if it does not exist (an existing database is never deleted).
    #[arg(short = 'i', long)]
    init: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    buildboard::telemetry::init();
    anyhow::ensure!(
        args.init || args.db.exists(),
        "{} does not exist; pass -i/--init to create it",
        args.db.display()
    );
    let store = Store::open(&args.db).with_context(|| format!("opening {}", args.db.display()))?;
    tracing::info!(db = %store.path().display(), version = migrate::LATEST_VERSION, "database ready");
    Ok(())
}
