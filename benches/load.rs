//! The load tool: measures buildboard on this machine, beside the limits it cannot beat.
//!
//! ```sh
//! cargo bench --bench load                      # everything, defaults below
//! cargo bench --bench load -- --only ingest     # one phase: ingest, fanout, reads, names, telemetry
//! ```
//!
//! Phases (each against the release `buildboard` binary, run as its own process on loopback with a
//! fresh database):
//! - **ingest**: signed workflow_run and workflow_job deliveries made from GitHub's examples (ids,
//!   shas, branches and timestamps varied so every delivery writes; delivery GUIDs shaped like
//!   GitHub's version-1 UUIDs, commit hashes random), from C keep-alive connections (bare hyper
//!   HTTP/1.1) for a fixed time: acknowledged deliveries/s, p50/p99 latency, and the rows in the database
//!   afterwards against the acknowledged deliveries.
//! - **http limit**: the same POSTs against a minimal warp server that only reads the body.
//! - **storage limit**: the same deliveries applied straight to SQLite through the store, in
//!   transactions of 512, with no HTTP; and again in groups the size the server's writer formed.
//!   The server's own writer figures (groups, deliveries per group, time per group) are read from
//!   its `/metrics`.
//! - **fan-out**: N WebSocket clients; deliveries posted at a steady rate; from each delivery's send
//!   (and from its 2xx) to its message at each client: p50/p99/max, messages lost or duplicated;
//!   server RSS per idle client. With `--fanout-scopes S`, the clients are spread over S display
//!   tokens (made through `/api/tokens`), each scoped to repositories of its own, and the
//!   deliveries over all of them: each client must get every delivery of its scope once, and any
//!   message naming another scope's repository is counted as a failure (a security boundary).
//! - **reads**: a database of `--runs` runs; server start time; p50/p99 of the API and board pages,
//!   the run page and `GET /api/runs/<id>` included (with `--scope N`, read with a display token
//!   for N of the 100 repositories, as a person or a TV who may read only those).
//! - **names**: 20,000 repositories and branches; the slowest read with 50 unknown names per list,
//!   and a plain read's latency while 8 clients send such reads.
//! - **telemetry**: 1,000 running jobs each posting a batch of three samples every 15 s to
//!   `POST /api/metrics`, with tokens a fake Actions OIDC issuer on loopback (discovery + JWKS, the
//!   tests' key) signed, while deliveries arrive as in ingest: deliveries/s with and without the
//!   telemetry (alternating, `--telemetry-rounds`), and the bytes a sample takes on disk (SQLite's
//!   `dbstat` over `jobsamples` and the jobs' tails), also for 1,000 jobs of `--telemetry-minutes`
//!   each.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use buildboard::demo::{delivery_guid, mix};
use buildboard::github::event::{self, Event, EventKind};
use buildboard::github::signature;
use buildboard::store::{write, Store};
use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderValue;
use serde_json::{json, Value};

const SECRET: &str = "load-tool-secret";
/// The board token and the admin token of phases that read with tokens.
const BOARD: &str = "load-board-token-0123456789";
const ADMIN: &str = "load-admin-token-0123456789";

/// Measure ingest, fan-out and reads against their limits.
#[derive(Debug, Parser)]
struct Args {
    /// Run one phase only: ingest, fanout, reads, names or telemetry.
    #[arg(long)]
    only: Option<String>,
    /// Seconds each throughput measurement runs.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Concurrent keep-alive connections posting deliveries.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// WebSocket clients watching during the second buildboard ingest run (the board on the
    /// office TV); the first runs with nobody watching.
    #[arg(long, default_value_t = 1)]
    watchers: usize,
    /// WebSocket client counts for the fan-out phase.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    clients: Vec<usize>,
    /// Fan-out phase: spread the clients over this many display tokens, each scoped to its own
    /// repositories, and post deliveries about all of them; each client must get exactly its
    /// scope's. 0: every client reads everything without a token.
    #[arg(long, default_value_t = 0)]
    fanout_scopes: usize,
    /// Deliveries per second during the fan-out phase.
    #[arg(long, default_value_t = 20)]
    fanout_rate: u64,
    /// Runs in the database of the reads phase.
    #[arg(long, default_value_t = 1_000_000)]
    runs: usize,
    /// Keep the reads phase's database here and reuse it when it exists (filling 1M runs takes
    /// minutes).
    #[arg(long)]
    reads_db: Option<std::path::PathBuf>,
    /// Requests per endpoint in the reads phase.
    #[arg(long, default_value_t = 100)]
    requests: usize,
    /// Reads phase: read with a display token scoped to this many of the 100 repositories
    /// (`org/repo-0` ...); 0 reads everything without a token.
    #[arg(long, default_value_t = 0)]
    scope: usize,
    /// Telemetry phase: measurements without and with telemetry, alternating.
    #[arg(long, default_value_t = 2)]
    telemetry_rounds: usize,
    /// Telemetry phase: minutes of samples per job in the on-disk size measurement.
    #[arg(long, default_value_t = 60)]
    telemetry_minutes: i64,
    /// Internal: this process runs one phase of a full run (which printed the header).
    #[arg(long, hide = true)]
    phase_process: bool,
    /// Internal: serve the minimal warp handler on this address (the HTTP limit).
    #[arg(long, hide = true)]
    serve_minimal: Option<SocketAddr>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(addr) = args.serve_minimal {
        return runtime.block_on(serve_minimal(addr));
    }
    runtime.block_on(run(args))
}

/// The phases, in the order a full run measures them.
const PHASES: [&str; 5] = ["ingest", "fanout", "reads", "names", "telemetry"];

async fn run(args: Args) -> anyhow::Result<()> {
    if !args.phase_process {
        println!("# buildboard load tool\n");
        println!(
            "machine: {} cores, {}; load tool on the same machine\n",
            num_cpus(),
            cpu_model()
        );
    }
    let Some(only) = args.only.as_deref() else {
        // Each phase in a fresh process of this tool: the ingest phase leaves gigabytes of freed
        // prepared deliveries in the heap, and the allocator giving them back to the kernel
        // stalled the next phase for most of a second in some runs.
        for phase in PHASES {
            let status = Command::new(std::env::current_exe()?)
                .args(std::env::args_os().skip(1))
                .args(["--only", phase, "--phase-process"])
                .status()
                .with_context(|| format!("running the {phase} phase"))?;
            if !status.success() {
                bail!("the {phase} phase failed ({status})");
            }
        }
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    match only {
        "ingest" => ingest_phase(&args, dir.path()).await?,
        "fanout" => {
            for &clients in &args.clients {
                fanout_phase(&args, dir.path(), clients).await?;
            }
        }
        "reads" => reads_phase(&args, dir.path()).await?,
        "names" => names_phase(&args, dir.path()).await?,
        "telemetry" => telemetry_phase(&args, dir.path()).await?,
        other => bail!("unknown phase {other:?}: use one of {PHASES:?}"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Deliveries

/// One signed delivery ready to post.
#[derive(Clone)]
struct Delivery {
    event: &'static str,
    /// The run a workflow_run delivery is about.
    run_id: Option<u64>,
    id: String,
    body: Bytes,
    signature: String,
}

impl Delivery {
    /// The signed POST GitHub would send, for a bare HTTP/1.1 connection to `host`.
    fn post(&self, host: &HeaderValue) -> hyper::Request<Full<Bytes>> {
        let mut request = hyper::Request::new(Full::new(self.body.clone()));
        *request.method_mut() = hyper::Method::POST;
        *request.uri_mut() = hyper::Uri::from_static("/webhook");
        let headers = request.headers_mut();
        headers.insert(hyper::header::HOST, host.clone());
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert("x-github-event", HeaderValue::from_static(self.event));
        headers.insert("x-github-delivery", self.id.parse().expect("a GUID"));
        headers.insert("x-hub-signature-256", self.signature.parse().expect("hex"));
        request
    }

    /// This workflow_run delivery about repository `octo-org/{name}` instead of the template's,
    /// with ids of its own for the repository and its workflow (`number` tells them apart),
    /// signed again.
    fn for_repo(&self, name: &str, number: u64) -> Delivery {
        let body = std::str::from_utf8(&self.body)
            .expect("the templates are UTF-8")
            .replace("octo-repo", name)
            .replace("300029405", &(400_000_000 + number).to_string())
            .replace("2823525", &(3_000_000 + number).to_string());
        let body = Bytes::from(body);
        Delivery {
            signature: signature::sign(SECRET.as_bytes(), &body),
            body,
            ..self.clone()
        }
    }
}

/// GitHub's examples, as templates whose ids, shas, branches and times get replaced.
struct Templates {
    run: String,
    job: String,
}

impl Templates {
    fn load() -> anyhow::Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github/webhooks");
        Ok(Self {
            run: std::fs::read_to_string(root.join("workflow_run/completed.payload.json"))?,
            job: std::fs::read_to_string(
                root.join("workflow_job/completed.success.with-organization.payload.json"),
            )?,
        })
    }

    /// Delivery `n`: even numbers are workflow_run (run `n`), odd ones workflow_job (job `n`).
    fn delivery(&self, n: u64) -> Delivery {
        // Like GitHub's: commit hashes and delivery GUIDs in no particular order, so that their
        // indexes take random inserts as they do in production.
        let sha = format!(
            "{:016x}{:016x}{:08x}",
            mix(n),
            mix(n ^ 1 << 62),
            mix(n) >> 32
        );
        let time = |offset: i64| {
            chrono::DateTime::from_timestamp(1_700_000_000 + n as i64 + offset, 0)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let run_id = (n % 2 == 0).then_some(1_000_000_000 + n);
        let (event, body) = if n % 2 == 0 {
            let body = self
                .run
                .replace("289782451", &(1_000_000_000 + n).to_string())
                .replace("3484a3fb816e0859fd6e1cea078d76385ff50625", &sha)
                .replace(
                    "\"head_branch\": \"master\"",
                    &format!("\"head_branch\": \"branch-{}\"", n % 50),
                )
                .replace("2020-10-05T16:33:24Z", &time(0))
                .replace("2020-10-05T16:33:49Z", &time(60));
            ("workflow_run", body)
        } else {
            let body = self
                .job
                .replace("289782451", &(5_000_000_000 + n).to_string())
                .replace("2202229078", &(1_000_000_000 + n - 1).to_string())
                .replace("2021-08-05T10:34:58Z", &time(30))
                .replace("2021-08-05T10:38:16Z", &time(90));
            ("workflow_job", body)
        };
        let body = Bytes::from(body);
        Delivery {
            event,
            run_id,
            id: delivery_guid(n),
            signature: signature::sign(SECRET.as_bytes(), &body),
            body,
        }
    }
}

fn make_deliveries(count: u64, first: u64) -> anyhow::Result<Vec<Delivery>> {
    let templates = Templates::load()?;
    Ok((first..first + count)
        .map(|n| templates.delivery(n))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the release server on `db` and waits until it answers; returns it and the time it
    /// took to answer.
    async fn start(db: &Path) -> anyhow::Result<(Self, Duration)> {
        Self::start_with(db, &[]).await
    }

    /// [`Server::start`] with `extra` arguments.
    async fn start_with(db: &Path, extra: &[&str]) -> anyhow::Result<(Self, Duration)> {
        let addr = free_addr()?;
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_buildboard"))
            .args(["--db", db.to_str().unwrap(), "--listen", &addr.to_string()])
            .args(extra)
            .args(["--rate-limit", "0", "--webhook-rate-limit", "0"])
            .env("BUILDBOARD_WEBHOOK_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting the buildboard binary")?;
        let server = Self { child, addr };
        server.wait_ready().await?;
        Ok((server, started.elapsed()))
    }

    /// Starts this tool as the minimal warp server.
    async fn start_minimal() -> anyhow::Result<Self> {
        let addr = free_addr()?;
        let child = Command::new(std::env::current_exe()?)
            .args(["--serve-minimal", &addr.to_string()])
            .stdout(Stdio::null())
            .spawn()?;
        let server = Self { child, addr };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        for _ in 0..2000 {
            if client
                .get(format!("http://{}/healthz", self.addr))
                .send()
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        bail!("the server at {} did not start", self.addr)
    }

    /// Resident memory of the server process, in KiB.
    fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    /// SIGTERM, then wait: the server drains and exits.
    fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }
}

/// Resident memory of process `pid`, in KiB (0 if unknown).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// The HTTP limit: read the body, answer 200.
async fn serve_minimal(addr: SocketAddr) -> anyhow::Result<()> {
    use warp::Filter;
    let health = warp::path!("healthz").map(|| "ok");
    let webhook = warp::path!("webhook")
        .and(warp::post())
        .and(warp::body::bytes())
        .map(|body: Bytes| format!("{{\"read\":{}}}", body.len()));
    warp::serve(health.or(webhook)).run(addr).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ingest

struct PostResults {
    acked: Vec<&'static str>,
    latencies: Vec<Duration>,
    failed: usize,
    elapsed: Duration,
}

/// Posts `deliveries` from `connections` keep-alive connections for `duration` (or until they run out).
///
/// Each connection is a bare hyper HTTP/1.1 connection, not a pooled `reqwest` client: the tool
/// shares the machine with the server, and `reqwest`'s URL parsing, pool and request building
/// took about a third of its time, which both the limit and buildboard paid.
async fn post_for(
    addr: SocketAddr,
    deliveries: Arc<Vec<Delivery>>,
    connections: usize,
    duration: Duration,
) -> PostResults {
    let next = Arc::new(AtomicUsize::new(0));
    let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid host");
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (next, deliveries, host) = (next.clone(), deliveries.clone(), host.clone());
            tokio::spawn(async move {
                let (mut acked, mut latencies, mut failed) = (Vec::new(), Vec::new(), 0);
                let mut connection = None;
                while started.elapsed() < duration {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(delivery) = deliveries.get(index) else {
                        break;
                    };
                    if connection.is_none() {
                        connection = connect(addr).await.ok();
                    }
                    let Some(sender) = connection.as_mut() else {
                        failed += 1;
                        continue;
                    };
                    let sent = Instant::now();
                    match post(sender, delivery.post(&host)).await {
                        Ok(true) => {
                            latencies.push(sent.elapsed());
                            acked.push(delivery.event);
                        }
                        Ok(false) => failed += 1,
                        Err(_) => {
                            failed += 1;
                            connection = None; // reconnect for the next one
                        }
                    }
                }
                (acked, latencies, failed)
            })
        })
        .collect();
    let mut results = PostResults {
        acked: Vec::new(),
        latencies: Vec::new(),
        failed: 0,
        elapsed: Duration::ZERO,
    };
    for worker in workers {
        let (acked, latencies, failed) = worker.await.expect("a worker");
        results.acked.extend(acked);
        results.latencies.extend(latencies);
        results.failed += failed;
    }
    results.elapsed = started.elapsed();
    results
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A keep-alive HTTP/1.1 connection to `addr`, driven by a task of its own.
async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends `request` and reads the whole response; whether it was a 2xx.
async fn post(sender: &mut Sender, request: hyper::Request<Full<Bytes>>) -> anyhow::Result<bool> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let success = response.status().is_success();
    response.into_body().collect().await?;
    Ok(success)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

async fn ingest_phase(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let duration = Duration::from_secs(args.duration);
    // Enough deliveries for 30,000/s: a run that exhausts them says so.
    let count = 30_000 * args.duration;
    eprintln!("ingest: preparing {count} signed deliveries…");
    let deliveries = Arc::new(make_deliveries(count, 0)?);

    eprintln!("ingest: the HTTP limit (minimal warp handler)…");
    let minimal = Server::start_minimal().await?;
    let limit = post_for(minimal.addr, deliveries.clone(), args.connections, duration).await;
    drop(minimal);
    let limit_rate = limit.acked.len() as f64 / limit.elapsed.as_secs_f64();

    eprintln!("ingest: the storage limit (store, no HTTP)…");
    let storage_rate = storage_limit(&deliveries, &dir.join("storage.db"), duration, 512)?;

    eprintln!("ingest: buildboard…");
    let quiet = ingest_run(args, &deliveries, &dir.join("ingest.db"), 0).await?;
    eprintln!(
        "ingest: buildboard with {} board(s) watching…",
        args.watchers
    );
    let watched = ingest_run(
        args,
        &deliveries,
        &dir.join("ingest-watched.db"),
        args.watchers,
    )
    .await?;
    let groups = &quiet.groups;
    // The store alone again, in groups the size the server's writer formed under this load: what
    // its transactions cost without HTTP, parsing or another thread on the cores.
    let server_group = (groups.deliveries / groups.count.max(1) as f64)
        .round()
        .max(1.0) as usize;
    eprintln!("ingest: the store alone in groups of {server_group}…");
    let server_group_rate = storage_limit(
        &deliveries,
        &dir.join("storage-groups.db"),
        duration,
        server_group,
    )?;
    println!(
        "## Ingest ({} s, {} connections, ~{} KiB per delivery)\n",
        args.duration,
        args.connections,
        deliveries[0].body.len() / 1024
    );
    println!("| measure | deliveries/s | p50 ms | p99 ms | ratio |");
    println!("|---|---|---|---|---|");
    let mut limit_latencies = limit.latencies;
    limit_latencies.sort_unstable();
    println!(
        "| HTTP limit (warp, body read only) | {limit_rate:.0} | {} | {} | 1.00 |",
        ms(percentile(&limit_latencies, 0.5)),
        ms(percentile(&limit_latencies, 0.99))
    );
    println!(
        "| storage limit (store, batches of 512) | {storage_rate:.0} | | | {:.2} |",
        storage_rate / limit_rate
    );
    println!(
        "| store alone, in the server's groups of {server_group} | {server_group_rate:.0} ({:.1} µs each) | | | {:.2} |",
        1e6 / server_group_rate,
        server_group_rate / limit_rate
    );
    report_ingest_rows(args, &quiet, &watched, limit_rate, deliveries.len());
    Ok(())
}

/// The two ingest runs' rows of the table (against the HTTP limit's `limit_rate`), then the
/// writer's groups, the rows against the acknowledged deliveries, and the watchers' messages
/// (`prepared`: the deliveries made ready).
fn report_ingest_rows(
    args: &Args,
    quiet: &IngestRun,
    watched: &IngestRun,
    limit_rate: f64,
    prepared: usize,
) {
    for (run, label) in [
        (quiet, "nobody watching".to_owned()),
        (watched, format!("{} board(s) watching", args.watchers)),
    ] {
        println!(
            "| **buildboard, acknowledged and durable**, {label} | **{:.0}** | {} | {} | **{:.2}** of HTTP |",
            run.rate(),
            ms(percentile(&run.results.latencies, 0.5)),
            ms(percentile(&run.results.latencies, 0.99)),
            run.rate() / limit_rate
        );
    }
    println!();
    for (run, label) in [(quiet, "nobody watching"), (watched, "watched")] {
        let groups = &run.groups;
        println!(
            "{label}: writer {} committed groups, {:.1} deliveries per group on average, {:.2} ms per group ({:.1} µs per delivery)",
            groups.count,
            groups.deliveries / groups.count.max(1) as f64,
            groups.seconds * 1000.0 / groups.count.max(1) as f64,
            groups.seconds * 1e6 / groups.deliveries.max(1.0),
        );
        let acked_runs = run
            .results
            .acked
            .iter()
            .filter(|e| **e == "workflow_run")
            .count();
        let acked_jobs = run.results.acked.len() - acked_runs;
        let exhausted = run.results.acked.len() + run.results.failed >= prepared;
        println!(
            "{label}: acknowledged {} workflow_run + {} workflow_job; rows after: {} workflowruns + {} workflowjobs ({}); failed requests: {}{}",
            acked_runs,
            acked_jobs,
            run.rows_runs,
            run.rows_jobs,
            if run.rows_runs == acked_runs && run.rows_jobs == acked_jobs { "equal" } else { "MISMATCH" },
            run.results.failed,
            if exhausted { "; the prepared deliveries ran out: the rate is a lower bound" } else { "" }
        );
    }
    println!(
        "watched: messages received by each watcher: {:?} (at least one per acknowledged delivery: {})\n",
        watched.messages,
        if watched.messages.iter().all(|&m| m >= watched.results.acked.len()) { "yes" } else { "NO" }
    );
}

/// One ingest measurement of buildboard, with `watchers` WebSocket clients connected throughout.
struct IngestRun {
    results: PostResults,
    groups: WriteGroups,
    rows_runs: usize,
    rows_jobs: usize,
    /// Messages each watcher received (changes published while it watched).
    messages: Vec<usize>,
}

impl IngestRun {
    fn rate(&self) -> f64 {
        self.results.acked.len() as f64 / self.results.elapsed.as_secs_f64()
    }
}

/// Starts buildboard on a fresh `db`, connects `watchers` board clients, posts for the set duration,
/// and counts what was acknowledged, stored and received.
async fn ingest_run(
    args: &Args,
    deliveries: &Arc<Vec<Delivery>>,
    db: &Path,
    watchers: usize,
) -> anyhow::Result<IngestRun> {
    let (server, _) = Server::start(db).await?;
    let url = format!("ws://{}/ws", server.addr);
    let stop = tokio_util::sync::CancellationToken::new();
    let mut watching = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(
            url.as_str(),
            Some(client_config()),
            false,
        )
        .await
        .context("connecting a watcher")?;
        let stop = stop.clone();
        watching.push(tokio::spawn(async move {
            let mut received: usize = 0;
            read_texts(socket, &stop, |_| received += 1).await;
            received
        }));
    }
    let mut results = post_for(
        server.addr,
        deliveries.clone(),
        args.connections,
        Duration::from_secs(args.duration),
    )
    .await;
    results.latencies.sort_unstable();
    // Messages of the last groups are still on their way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    let mut messages = Vec::with_capacity(watchers);
    for watcher in watching {
        // The first message is the watcher's hello, not a change.
        messages.push(watcher.await?.saturating_sub(1));
    }
    let groups = WriteGroups::scrape(server.addr).await?;
    server.stop()?;
    let conn = rusqlite::Connection::open(db)?;
    let count = |table: &str| -> anyhow::Result<usize> {
        Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
    };
    let run = IngestRun {
        rows_runs: count("workflowruns")?,
        rows_jobs: count("workflowjobs")?,
        results,
        groups,
        messages,
    };
    drop(conn);
    remove_database(db);
    Ok(run)
}

/// Deletes a database and its WAL once measured: the kernel would otherwise still be writing its
/// gigabyte of dirty pages back to disk during the next measurement.
fn remove_database(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}

/// What the server's writer reported at `/metrics`: its committed groups, the deliveries in them
/// and the time spent applying and committing them.
struct WriteGroups {
    count: u64,
    deliveries: f64,
    seconds: f64,
}

impl WriteGroups {
    async fn scrape(addr: SocketAddr) -> anyhow::Result<Self> {
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await?
            .text()
            .await?;
        let value = |name: &str| -> anyhow::Result<f64> {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|value| value.parse().ok())
                .with_context(|| format!("no {name} at /metrics"))
        };
        Ok(Self {
            count: value("buildboard_write_group_size_count")? as u64,
            deliveries: value("buildboard_write_group_size_sum")?,
            seconds: value("buildboard_write_seconds_sum")?,
        })
    }
}

/// Applies the deliveries straight through the store, `group_size` per transaction, as the
/// server's writer does (remembering what it stored); deliveries/s.
fn storage_limit(
    deliveries: &[Delivery],
    db: &Path,
    duration: Duration,
    group_size: usize,
) -> anyhow::Result<f64> {
    let parsed: Vec<(String, EventKind, Event)> = deliveries
        .iter()
        .map(|d| {
            let kind = EventKind::from_header(d.event).expect("our events");
            (
                d.id.clone(),
                kind,
                event::parse(kind, &d.body).expect("our payloads parse"),
            )
        })
        .collect();
    let store = Store::open(db)?;
    let mut conn = store.open_writer()?;
    let mut known = write::Known::default();
    let started = Instant::now();
    let mut applied = 0;
    for group in parsed.chunks(group_size) {
        if started.elapsed() >= duration {
            break;
        }
        let tx = conn.transaction()?;
        for (id, kind, event) in group {
            write::record_delivery(&tx, id, kind.as_str(), 0)?;
            write::apply_event_with(&tx, event, 0, &mut known)?;
        }
        tx.commit()?;
        applied += group.len();
    }
    let rate = applied as f64 / started.elapsed().as_secs_f64();
    drop((conn, store));
    remove_database(db);
    Ok(rate)
}

// ---------------------------------------------------------------------------------------------
// Fan-out

/// Repositories each scope of the fan-out phase reads.
const REPOS_PER_SCOPE: usize = 2;

/// Repository `repo` of fan-out scope `scope`, without its owner (`octo-org`, the template's):
/// `scope-07-repo-1`.
fn scope_repo(scope: usize, repo: usize) -> String {
    format!("scope-{scope:02}-repo-{repo}")
}

/// The fan-out scopes whose repositories `text` names (`scope-NN-repo-`, however its owner or
/// URL around it is written). A screen must never get a message naming another scope than its
/// own.
fn scopes_named(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.match_indices("scope-").filter_map(|(at, _)| {
        let rest = &text[at + "scope-".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        rest[digits.len()..]
            .starts_with("-repo-")
            .then(|| digits.parse().ok())
            .flatten()
    })
}

/// A delivery posted during the fan-out phase: its run, its scope, when it was sent and when
/// its 2xx came back.
struct Posted {
    run_id: u64,
    scope: usize,
    sent: Instant,
    acked: Instant,
}

/// What one screen received.
struct Screen {
    scope: usize,
    /// Each `run` message: its run id and when it arrived.
    runs: Vec<(u64, Instant)>,
    /// Messages (of any type, snapshots included) that named another scope's repository.
    foreign: usize,
    /// Messages that named a repository of its own scope: none would mean the check above
    /// cannot see a repository's name in a message.
    named_own: usize,
}

/// Starts the fan-out phase's server and, with `scopes`, makes one display token per scope
/// (each for its own [`REPOS_PER_SCOPE`] repositories) through `/api/tokens`; without scopes the
/// screens read everything with no token.
async fn fanout_server(db: &Path, scopes: usize) -> anyhow::Result<(Server, Vec<String>)> {
    if scopes == 0 {
        return Ok((Server::start(db).await?.0, Vec::new()));
    }
    let (server, _) =
        Server::start_with(db, &["--board-token", BOARD, "--admin-token", ADMIN]).await?;
    let mut tokens = Vec::with_capacity(scopes);
    for scope in 0..scopes {
        let repos: Vec<String> = (0..REPOS_PER_SCOPE)
            .map(|repo| format!("octo-org/{}", scope_repo(scope, repo)))
            .collect();
        tokens.push(make_token(server.addr, &format!("screen {scope}"), &repos).await?);
    }
    Ok((server, tokens))
}

/// Connects one screen to `url`, with `token` when it has one.
async fn connect_screen(url: &str, token: Option<&str>) -> anyhow::Result<WebSocket> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request()?;
    if let Some(token) = token {
        request.headers_mut().insert(
            hyper::header::AUTHORIZATION,
            format!("Bearer {token}").parse()?,
        );
    }
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(client_config()), false)
            .await
            .context("connecting a WebSocket client")?;
    Ok(socket)
}

/// Connects `clients` screens, screen `c` with the token of scope `c % scopes`, 250 at a time;
/// returns their tasks once every one has its snapshot (or after a minute).
async fn connect_screens(
    server: &Server,
    tokens: &[String],
    clients: usize,
    stop: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<Screen>>> {
    let url = format!("ws://{}/ws", server.addr);
    let mut tasks = Vec::with_capacity(clients);
    // Screens that have their snapshot: posting starts once every one has, so that the figures
    // are the steady state and not the tail of 10,000 connections being set up.
    let settled = Arc::new(AtomicUsize::new(0));
    for batch in (0..clients).collect::<Vec<_>>().chunks(250) {
        let scope_of = |client: usize| client % tokens.len().max(1);
        let sockets = batch.iter().map(|&client| {
            let token = tokens.get(scope_of(client)).map(String::as_str);
            connect_screen(&url, token)
        });
        let sockets = futures_util::future::join_all(sockets).await;
        for (&client, socket) in batch.iter().zip(sockets) {
            let (socket, settled, stop) = (socket?, settled.clone(), stop.clone());
            let mut screen = Screen {
                scope: scope_of(client),
                runs: Vec::new(),
                foreign: 0,
                named_own: 0,
            };
            let scoped = !tokens.is_empty();
            tasks.push(tokio::spawn(async move {
                read_texts(socket, &stop, |text| {
                    if scoped {
                        let (mut own, mut other) = (false, false);
                        for named in scopes_named(text) {
                            own |= named == screen.scope;
                            other |= named != screen.scope;
                        }
                        screen.foreign += usize::from(other);
                        screen.named_own += usize::from(own);
                    }
                    if let Some(id) = run_id(text) {
                        screen.runs.push((id, Instant::now()));
                    } else if text.contains(r#""type":"snapshot""#) {
                        settled.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .await;
                screen
            }));
        }
    }
    let settling = Instant::now();
    while settled.load(Ordering::Relaxed) < clients && settling.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "fan-out: {} of {clients} clients had their snapshot {} ms after the last connected; load tool RSS {} MiB",
        settled.load(Ordering::Relaxed),
        settling.elapsed().as_millis(),
        rss_kib(std::process::id()) / 1024
    );
    Ok(tasks)
}

/// The fan-out phase's workflow_run deliveries, with their scopes: with `scopes`, delivery `i`
/// is about a repository of scope `i % scopes`; without, all are about the template's.
fn fanout_deliveries(count: u64, scopes: usize) -> anyhow::Result<Vec<(Delivery, usize)>> {
    let deliveries = make_deliveries(count * 2, 10_000_000)?;
    let runs = deliveries
        .into_iter()
        .filter(|d| d.event == "workflow_run")
        .take(count as usize);
    Ok(runs
        .enumerate()
        .map(|(i, delivery)| {
            if scopes == 0 {
                return (delivery, 0);
            }
            let (scope, repo) = (i % scopes, (i / scopes) % REPOS_PER_SCOPE);
            let number = (scope * REPOS_PER_SCOPE + repo) as u64;
            (delivery.for_repo(&scope_repo(scope, repo), number), scope)
        })
        .collect())
}

/// Posts `deliveries` one at a time at `rate` per second on one keep-alive connection.
async fn post_steadily(
    addr: SocketAddr,
    deliveries: &[(Delivery, usize)],
    rate: u64,
) -> anyhow::Result<Vec<Posted>> {
    let mut sender = connect(addr).await?;
    let host = HeaderValue::from_str(&addr.to_string())?;
    let mut posted = Vec::with_capacity(deliveries.len());
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for (delivery, scope) in deliveries {
        ticker.tick().await;
        let sent = Instant::now();
        if post(&mut sender, delivery.post(&host)).await? {
            posted.push(Posted {
                run_id: delivery
                    .run_id
                    .expect("workflow_run deliveries carry their run id"),
                scope: *scope,
                sent,
                acked: Instant::now(),
            });
        }
    }
    Ok(posted)
}

async fn fanout_phase(args: &Args, dir: &Path, clients: usize) -> anyhow::Result<()> {
    let scopes = args.fanout_scopes;
    eprintln!(
        "fan-out: {clients} clients over {} scope(s)…",
        scopes.max(1)
    );
    let db = dir.join(format!("fanout-{clients}.db"));
    let (server, tokens) = fanout_server(&db, scopes).await?;
    let idle_rss = server.rss_kib();
    let stop = tokio_util::sync::CancellationToken::new();
    let tasks = connect_screens(&server, &tokens, clients, &stop).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy_rss = server.rss_kib();
    let per_client = (busy_rss.saturating_sub(idle_rss)) as f64 / clients as f64;

    let deliveries = fanout_deliveries(args.fanout_rate * args.duration, scopes)?;
    let posted = post_steadily(server.addr, &deliveries, args.fanout_rate).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let mut screens = Vec::with_capacity(clients);
    for task in tasks {
        screens.push(task.await?);
    }
    server.stop()?;
    let tally = FanoutTally::count(&posted, &screens, scopes > 0);
    if scopes > 0 {
        eprintln!(
            "fan-out: messages naming a repository of the screen's own scope: {} (the check sees names)",
            screens.iter().map(|s| s.named_own).sum::<usize>()
        );
    }
    tally.print_slowest(&posted);
    println!(
        "## Fan-out: {clients} WebSocket clients over {} scope(s), {} deliveries/s for {} s\n",
        scopes.max(1),
        args.fanout_rate,
        args.duration
    );
    println!("| clients | scopes | messages | p50 ms from send | p99 ms from send | max ms from send | p99 ms from 2xx | lost | duplicated | other scopes' messages | RSS idle server | RSS per client |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {clients} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MiB | {:.1} KiB |\n",
        scopes.max(1),
        tally.from_send.len(),
        ms(percentile(&tally.from_send, 0.5)),
        ms(percentile(&tally.from_send, 0.99)),
        ms(tally.from_send.last().copied().unwrap_or_default()),
        ms(percentile(&tally.from_ack, 0.99)),
        tally.lost,
        tally.duplicated,
        tally.foreign,
        idle_rss as f64 / 1024.0,
        per_client
    );
    Ok(())
}

/// The fan-out phase's outcome: each screen must get every acknowledged delivery of its scope
/// once, and nothing of another scope.
struct FanoutTally {
    /// Latency of each expected message from its delivery's send, sorted.
    from_send: Vec<Duration>,
    /// The same from its delivery's 2xx, sorted.
    from_ack: Vec<Duration>,
    /// Expected messages that never arrived.
    lost: usize,
    /// Expected messages that arrived more than once.
    duplicated: usize,
    /// Messages about another scope's repositories (run messages and any other text naming one).
    foreign: usize,
    /// Each delivery's slowest arrival from its send, by run id.
    slowest: std::collections::HashMap<u64, Duration>,
}

impl FanoutTally {
    fn count(posted: &[Posted], screens: &[Screen], scoped: bool) -> Self {
        let by_run: std::collections::HashMap<u64, &Posted> =
            posted.iter().map(|p| (p.run_id, p)).collect();
        let mut tally = Self {
            from_send: Vec::new(),
            from_ack: Vec::new(),
            lost: 0,
            duplicated: 0,
            foreign: 0,
            slowest: std::collections::HashMap::new(),
        };
        for screen in screens {
            tally.foreign += screen.foreign;
            let mut seen = std::collections::HashSet::new();
            for (id, at) in &screen.runs {
                let Some(p) = by_run.get(id) else { continue };
                if scoped && p.scope != screen.scope {
                    continue; // counted in `foreign`: its text names the other scope
                }
                if !seen.insert(*id) {
                    tally.duplicated += 1;
                    continue;
                }
                let latency = at.saturating_duration_since(p.sent);
                tally.from_send.push(latency);
                tally.from_ack.push(at.saturating_duration_since(p.acked));
                let worst = tally.slowest.entry(*id).or_default();
                *worst = (*worst).max(latency);
            }
            let expected = posted
                .iter()
                .filter(|p| !scoped || p.scope == screen.scope)
                .count();
            tally.lost += expected - seen.len();
        }
        tally.from_send.sort_unstable();
        tally.from_ack.sort_unstable();
        tally
    }

    /// Where the tail comes from: each delivery's slowest arrival, the worst five in posting order.
    fn print_slowest(&self, posted: &[Posted]) {
        let mut worst: Vec<(usize, Duration)> = posted
            .iter()
            .enumerate()
            .filter_map(|(index, p)| self.slowest.get(&p.run_id).map(|l| (index, *l)))
            .collect();
        worst.sort_unstable_by_key(|(_, latency)| std::cmp::Reverse(*latency));
        worst.truncate(5);
        worst.sort_unstable();
        eprintln!(
            "fan-out: slowest deliveries (index in posting order: worst arrival from send): {}",
            worst
                .iter()
                .map(|(index, latency)| format!("#{index}: {} ms", ms(*latency)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Each simulated board's buffers. tungstenite's default read buffer is 128 KiB, zero-filled on
/// the first read: 10,000 clients would fault in 1.25 GiB in the load tool when the first message
/// arrives, and that stall (a second or more) would be measured as the server's latency.
type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Hands each text message `socket` receives to `on_text`, until `stop` is cancelled or the
/// connection ends.
async fn read_texts(
    socket: WebSocket,
    stop: &tokio_util::sync::CancellationToken,
    mut on_text: impl FnMut(&str),
) {
    let (_sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            message = stream.next() => match message {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => on_text(&text),
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    }
}

fn client_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(8 * 1024)
}

/// The run id of a `run` message, found without parsing the JSON (the client side must stay cheap).
fn run_id(text: &str) -> Option<u64> {
    const PREFIX: &str = "{\"type\":\"run\",\"build\":{\"id\":";
    let digits: String = text
        .strip_prefix(PREFIX)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Reads

async fn reads_phase(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let db = args
        .reads_db
        .clone()
        .unwrap_or_else(|| dir.join("reads.db"));
    if db.exists() {
        eprintln!("reads: reusing {}", db.display());
    } else {
        eprintln!("reads: writing {} runs…", args.runs);
        let now = chrono::Utc::now().timestamp();
        let built = Instant::now();
        fill_database(&db, args.runs, now)?;
        eprintln!(
            "reads: {} runs written in {:.1} s",
            args.runs,
            built.elapsed().as_secs_f64()
        );
    }
    let pages = run_page_runs(&db, args.runs)?;
    let (server, startup, client) = reads_server(&db, args.scope).await?;
    let endpoints = read_endpoints(&pages);
    println!("## Reads: {} runs in the database\n", args.runs);
    if args.scope > 0 {
        println!(
            "read with a display token for {} of the 100 repositories\n",
            args.scope
        );
    }
    println!(
        "server start (spawn to first answer): {} ms\n",
        startup.as_millis()
    );
    println!(
        "after one uncounted warm-up request per endpoint, {} requests each, one at a time:\n",
        args.requests
    );
    println!("| request | p50 ms | p99 ms | status |");
    println!("|---|---|---|---|");
    // Let the background statistics refresh that follows start-up finish, as in steady state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for path in endpoints {
        let url = format!("http://{}{path}", server.addr);
        let (latencies, status) = time_reads(&client, &url, args.requests).await?;
        println!(
            "| `{path}` | {} | {} | {status} |",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99))
        );
    }
    println!();
    server.stop()?;
    Ok(())
}

/// What the reads phase asks for: the API, every view (the Wall is `/`), and the run pages of
/// `run_pages`.
fn read_endpoints(run_pages: &[u64; 2]) -> Vec<String> {
    let run_pages = run_pages
        .iter()
        .flat_map(|id| [format!("/runs/{id}"), format!("/api/runs/{id}")]);
    [
        "/api/builds",
        "/api/builds?repo=org/repo-3&branch=branch-7&per_page=100",
        "/api/builds?author=dev-42&conclusion=failure",
        "/api/builds?conclusion=failure",
        "/api/builds?sha=00000000000000000000000000000000000001f4",
        "/api/metrics",
        "/api/metrics?repo=org/repo-3&window=7d",
        "/api/workflows?repo=org/repo-3",
        // Several values, a branch glob, a workflow in another case, and an unknown name.
        "/api/builds?repo=org/repo-3,org/repo-4&branch=branch-1*&workflow=WORKFLOW-17",
        "/api/builds?repo=org/repo-333",
        "/waterfall",
        "/waterfall?repo=org/repo-3,org/repo-4&branch=branch-1*&workflow=WORKFLOW-17&part=live",
        "/waterfall?repo=org/repo-333",
        "/waterfall?tv=1",
        "/waterfall?tv=1&part=live",
        "/",
        "/wall?part=live",
        "/wall?part=state",
        "/triage",
        "/triage?part=live",
        "/triage?branches=all",
        "/api/triage",
        "/triage?branch=branch-1*&workflow=workflow-17,workflow-18",
        "/developer/dev-42",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(run_pages)
    .collect()
}

/// `requests` reads of `url`, one at a time, after one uncounted warm-up (page cache, statement
/// cache): their latencies, sorted, and the last status.
async fn time_reads(
    client: &reqwest::Client,
    url: &str,
    requests: usize,
) -> anyhow::Result<(Vec<Duration>, u16)> {
    client.get(url).send().await?.bytes().await?;
    let mut latencies = Vec::with_capacity(requests);
    let mut status = 0;
    for _ in 0..requests {
        let started = Instant::now();
        let response = client.get(url).send().await?;
        status = response.status().as_u16();
        let _ = response.bytes().await?;
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    Ok((latencies, status))
}

/// The runs whose pages the reads phase opens: the newest run of `org/repo-0` (which every
/// scope reads) and an older failed one, each given four jobs with their steps and an hour of
/// samples every 5 s (the reads database holds runs only). Idempotent.
fn run_page_runs(db: &Path, runs: usize) -> anyhow::Result<[u64; 2]> {
    use buildboard::store::samples;
    // Run `n + 1` is of repository `n % 100` and fails when `n % 7 == 0` (see fill_database).
    let newest = (runs as u64 - 1) / 100 * 100;
    let failed = (runs as u64 * 7 / 10) / 700 * 700;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github/webhooks");
    let read = |path: &str| -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&std::fs::read_to_string(
            root.join(path),
        )?)?)
    };
    let mut repository = read("workflow_run/completed.payload.json")?["repository"].clone();
    repository["id"] = json!(1000);
    repository["full_name"] = json!("org/repo-0");
    repository["default_branch"] = json!("main");
    repository["html_url"] = json!("https://github.com/org/repo-0");
    // Samples of the last hour: older ones are downsampled at start (`--telemetry-retention`).
    let hour_ago = chrono::Utc::now().timestamp() - 3600;
    let store = Store::open(db)?;
    let mut conn = store.open_writer()?;
    let tx = conn.transaction()?;
    for (n, outcome) in [(newest, "success"), (failed, "failure")] {
        let mut template = read(&format!(
            "workflow_job/completed.{outcome}.with-organization.payload.json"
        ))?;
        template["repository"] = repository.clone();
        for j in 0..4 {
            let job_id = 9_000_000_000 + n as i64 * 10 + j;
            template["workflow_job"]["id"] = json!(job_id);
            template["workflow_job"]["run_id"] = json!(n + 1);
            let body = serde_json::to_vec(&template)?;
            let event = event::parse(EventKind::WorkflowJob, &body)?;
            write::apply_event(&tx, &event, chrono::Utc::now().timestamp())?;
            let batch: Vec<samples::Sample> = (0..720)
                .map(|i| stored_sample(&sample_batch(j, hour_ago + i * 5, hour_ago)["samples"][2]))
                .collect();
            samples::insert(&tx, job_id, &batch)?;
        }
    }
    tx.commit()?;
    Ok([newest + 1, failed + 1])
}

/// The reads phase's server, and a client that reads as the phase says: with a display token for
/// `scope` of the repositories (made through `/api/tokens`), or without a token when `scope` is 0.
async fn reads_server(
    db: &Path,
    scope: usize,
) -> anyhow::Result<(Server, Duration, reqwest::Client)> {
    if scope == 0 {
        let (server, startup) = Server::start(db).await?;
        return Ok((server, startup, reqwest::Client::new()));
    }
    let (server, startup) =
        Server::start_with(db, &["--board-token", BOARD, "--admin-token", ADMIN]).await?;
    let repos: Vec<String> = (0..scope).map(|repo| format!("org/repo-{repo}")).collect();
    let token = make_token(server.addr, "load", &repos).await?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse()?,
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    Ok((server, startup, client))
}

/// A display token named `name` for `repos`, made with the admin token through `/api/tokens`.
async fn make_token(addr: SocketAddr, name: &str, repos: &[String]) -> anyhow::Result<String> {
    let made: Value = reqwest::Client::new()
        .post(format!("http://{addr}/api/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({ "name": name, "repos": repos }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(made["token"]
        .as_str()
        .context("a token in the answer")?
        .to_owned())
}

/// `runs` runs over the last 30 days: an organisation of 100 repositories with 5 workflows each
/// (500), their default branch `main` (a third of the runs) and 50 feature branches, 200 authors;
/// one run in seven fails.
/// A name of about 90 characters: alike enough to each other that every comparison runs in full.
fn long_name(kind: &str, n: usize) -> String {
    format!("{kind}-{n:05}-{}", "abcdefghij".repeat(8))
}

/// Reads do bounded work: with 20,000 repositories and 20,000 branches, the worst filters (50
/// unknown names of each kind) alone, then eight clients sending them while a plain
/// `/api/builds?per_page=5` is timed.
async fn names_phase(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let db = dir.join("names.db");
    fill_names(&db)?;
    let (server, _) = Server::start(&db).await?;
    let unknown = |kind: &str, prefix: &str| -> String {
        (0..50)
            .map(|n| format!("{prefix}{}", long_name(kind, 30_000 + n)))
            .collect::<Vec<_>>()
            .join(",")
    };
    let worst = [
        format!("/api/builds?repo={}", unknown("repo", "org/")),
        format!(
            "/api/builds?branch={}&workflow={}",
            unknown("branch", "feature/"),
            unknown("workflow", "")
        ),
    ];
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", server.addr);
    println!("## Names: 20,000 repositories, 20,000 branches, 50 unknown names per list\n");
    let mut alone = Duration::ZERO;
    for path in &worst {
        for _ in 0..5 {
            let started = Instant::now();
            let status = client.get(url(path)).send().await?.status();
            alone = alone.max(started.elapsed());
            anyhow::ensure!(status.is_success(), "{path}: {status}");
        }
    }
    println!(
        "slowest worst-case read alone (10 requests): {} ms",
        alone.as_millis()
    );
    plain_reads_beside_worst(args, &client, &url, &worst).await?;
    server.stop()
}

/// 20,000 repositories with a branch each, names as long as GitHub allows.
fn fill_names(db: &Path) -> anyhow::Result<()> {
    let store = Store::open(db)?;
    let mut conn = store.open_writer()?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    for n in 1..=20_000 {
        tx.execute(
            "INSERT INTO repos (id, fullname, defaultbranch, createtime) VALUES (?1, ?2, 'main', 0)",
            (n, format!("org/{}", long_name("repo", n))),
        )?;
        tx.execute(
            "INSERT INTO branches (repo_id, name, createtime) VALUES (?1, ?2, 0)",
            (n, format!("feature/{}", long_name("branch", n))),
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// A plain read's latency while 8 clients send the `worst` reads.
async fn plain_reads_beside_worst(
    args: &Args,
    client: &reqwest::Client,
    url: &impl Fn(&str) -> String,
    worst: &[String; 2],
) -> anyhow::Result<()> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|n| {
            let (client, stop) = (client.clone(), stop.clone());
            let target = url(&worst[n % 2]);
            tokio::spawn(async move {
                let mut done = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    if client.get(&target).send().await.is_ok() {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    for _ in 0..args.requests {
        let started = Instant::now();
        client.get(url("/api/builds?per_page=5")).send().await?;
        latencies.push(started.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let mut worst_done = 0;
    for reader in readers {
        worst_done += reader.await?;
    }
    latencies.sort_unstable();
    println!(
        "plain /api/builds?per_page=5 while 8 clients send them ({} requests; {worst_done} worst-case \
         reads meanwhile): p50 {} ms, p99 {} ms, max {} ms\n",
        latencies.len(),
        percentile(&latencies, 0.5).as_millis(),
        percentile(&latencies, 0.99).as_millis(),
        latencies.last().copied().unwrap_or_default().as_millis(),
    );
    Ok(())
}

fn fill_database(db: &Path, runs: usize, now: i64) -> anyhow::Result<()> {
    let templates = Templates::load()?;
    let template: Value = serde_json::from_str(&templates.run)?;
    let store = Store::open(db)?;
    let mut conn = store.open_writer()?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let span = 30 * 86_400;
    for chunk in (0..runs).collect::<Vec<_>>().chunks(10_000) {
        let tx = conn.transaction()?;
        for &n in chunk {
            let created = now - span + (n as i64 * span / runs as i64);
            let mut payload = template.clone();
            let repo = n % 100;
            let workflow = repo * 5 + (n / 100) % 5;
            payload["repository"]["id"] = json!(1000 + repo);
            payload["repository"]["full_name"] = json!(format!("org/repo-{repo}"));
            payload["repository"]["default_branch"] = json!("main");
            payload["repository"]["html_url"] =
                json!(format!("https://github.com/org/repo-{repo}"));
            payload["workflow"]["id"] = json!(100 + workflow);
            payload["workflow"]["name"] = json!(format!("workflow-{workflow}"));
            let run = &mut payload["workflow_run"];
            run["id"] = json!(n + 1);
            run["workflow_id"] = json!(100 + workflow);
            run["head_branch"] = json!(if n % 3 == 0 {
                "main".to_owned()
            } else {
                format!("branch-{}", n % 50)
            });
            run["actor"]["login"] = json!(format!("dev-{}", n % 200));
            let sha = format!("{:040x}", n / 3);
            run["head_sha"] = json!(sha);
            run["head_commit"]["id"] = json!(sha);
            let recent = created > now - 3600;
            run["status"] = json!(if recent && n % 3 == 0 {
                "in_progress"
            } else {
                "completed"
            });
            run["conclusion"] = if recent && n % 3 == 0 {
                Value::Null
            } else {
                json!(if n % 7 == 0 { "failure" } else { "success" })
            };
            let time = |secs: i64| {
                chrono::DateTime::from_timestamp(secs, 0)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            };
            run["created_at"] = json!(time(created));
            run["run_started_at"] = json!(time(created + (n % 60) as i64));
            run["updated_at"] = json!(time(created + 60 + (n % 600) as i64));
            let event: event::WorkflowRunEvent = serde_json::from_value(payload)?;
            write::apply_event(&tx, &Event::WorkflowRun(Box::new(event)), now)?;
        }
        tx.commit()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Telemetry

/// The board's public URL in the telemetry phase: the audience of the jobs' tokens.
const PUBLIC_URL: &str = "http://board.load";
/// Running jobs posting samples in the telemetry phase.
const TELEMETRY_JOBS: i64 = 1000;
/// Seconds between two samples of a job, and between two of its posts (a batch of three).
const SAMPLE_EVERY_S: i64 = 5;
const POST_EVERY_S: i64 = 15;
/// The telemetry phase's jobs: job `TELEMETRY_JOB + k` of run `TELEMETRY_RUN + k`.
const TELEMETRY_JOB: i64 = 7_000_000_000;
const TELEMETRY_RUN: i64 = 8_000_000_000;
/// The repository of GitHub's workflow_run example (`octo-org/octo-repo`), which the jobs are of.
const TELEMETRY_REPO: i64 = 300029405;

/// A fake Actions OIDC issuer on loopback, as `tests/api/telemetry.rs` has: its discovery
/// document and JWKS (the test key `key-1`), and the key to sign the jobs' tokens with.
struct Issuer {
    url: String,
    key: jsonwebtoken::EncodingKey,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl Issuer {
    async fn start() -> anyhow::Result<Self> {
        use warp::Filter;
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc");
        let jwk: Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures.join("key-1.jwk.json"))?)?;
        let pem = std::fs::read(fixtures.join("key-1.pem"))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let discovery = {
            let url = url.clone();
            warp::path!(".well-known" / "openid-configuration").map(move || {
                warp::reply::json(&json!({ "issuer": url, "jwks_uri": format!("{url}/jwks") }))
            })
        };
        let jwks = warp::path!("jwks").map(move || warp::reply::json(&json!({ "keys": [jwk] })));
        let handle = tokio::spawn(warp::serve(discovery.or(jwks)).incoming(listener).run());
        Ok(Self {
            url,
            key: jsonwebtoken::EncodingKey::from_rsa_pem(&pem)?,
            handle,
        })
    }

    /// The token job `k` of the phase gets from Actions: audience the board, valid for an hour.
    fn token(&self, k: i64) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.url, "aud": PUBLIC_URL, "iat": now, "nbf": now - 5, "exp": now + 3600,
            "repository": "octo-org/octo-repo", "repository_id": TELEMETRY_REPO.to_string(),
            "run_id": (TELEMETRY_RUN + k).to_string(), "run_attempt": "1",
            "check_run_id": (TELEMETRY_JOB + k).to_string(),
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("key-1".to_owned());
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }
}

/// The `in_progress` workflow_job deliveries of the phase's running jobs, created a minute ago.
fn running_jobs() -> anyhow::Result<Vec<Delivery>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github/webhooks");
    let read = |path: &str| -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&std::fs::read_to_string(
            root.join(path),
        )?)?)
    };
    let template = read("workflow_job/in_progress.payload.json")?;
    let repository = read("workflow_run/completed.payload.json")?["repository"].clone();
    let created = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() - 60, 0)
        .expect("now is a valid time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (0..TELEMETRY_JOBS)
        .map(|k| {
            let mut payload = template.clone();
            let job = &mut payload["workflow_job"];
            job["id"] = json!(TELEMETRY_JOB + k);
            job["run_id"] = json!(TELEMETRY_RUN + k);
            job["created_at"] = json!(created);
            job["started_at"] = json!(created);
            payload["repository"] = repository.clone();
            let body = Bytes::from(serde_json::to_vec(&payload)?);
            Ok(Delivery {
                event: "workflow_job",
                run_id: None,
                id: delivery_guid(30_000_000 + k as u64),
                signature: signature::sign(SECRET.as_bytes(), &body),
                body,
            })
        })
        .collect()
}

/// A batch of the three samples job `k` (started at `started`) took in the last
/// [`POST_EVERY_S`] seconds, with figures like a GitHub-hosted runner's: 16 GB, 4-8 GB used,
/// disk 2-3 MB/s and network 1.5 MB/s in, 40 kB/s out, counted since the job started.
fn sample_batch(k: i64, now: i64, started: i64) -> Value {
    let samples: Vec<Value> = (0..POST_EVERY_S / SAMPLE_EVERY_S)
        .map(|i| {
            let t = now - POST_EVERY_S + (i + 1) * SAMPLE_EVERY_S;
            let age = (t - started).max(0) + k % 60;
            json!({"t": t, "cpu_user": 20.0 + (age % 60) as f64 * 1.25, "cpu_system": 3.5,
                   "mem_used": 4_000_000_000_i64 + age * 1_000_000, "mem_total": 16_772_579_328_i64,
                   "disk_read": age * 2_000_000, "disk_write": age * 3_000_000,
                   "net_rx": age * 1_500_000, "net_tx": age * 40_000})
        })
        .collect();
    json!({ "samples": samples })
}

/// What the jobs' posts got: accepted posts, samples stored, refused or failed posts.
#[derive(Default, Debug)]
struct TelemetryPosts {
    accepted: usize,
    stored: u64,
    refused: usize,
}

/// Job `k` of [`TELEMETRY_JOBS`]: starts its share of [`POST_EVERY_S`] late (so posts are
/// spread evenly), then posts a batch every [`POST_EVERY_S`] until `stop`.
async fn post_samples(
    client: reqwest::Client,
    url: String,
    token: String,
    (k, started): (i64, i64),
    stop: tokio_util::sync::CancellationToken,
) -> TelemetryPosts {
    let period = Duration::from_secs(POST_EVERY_S as u64);
    let offset = period.mul_f64(k as f64 / TELEMETRY_JOBS as f64);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    let mut posts = TelemetryPosts::default();
    loop {
        tokio::select! {
            () = stop.cancelled() => return posts,
            _ = ticker.tick() => {}
        }
        let batch = sample_batch(k, chrono::Utc::now().timestamp(), started);
        let answer = client
            .post(&url)
            .bearer_auth(&token)
            .json(&batch)
            .send()
            .await;
        match answer {
            Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => {
                posts.accepted += 1;
                let body: Value = response.json().await.unwrap_or_default();
                posts.stored += body["stored"].as_u64().unwrap_or(0);
            }
            Ok(response) => {
                if posts.refused == 0 {
                    eprintln!(
                        "telemetry: job {k}: {}",
                        response.text().await.unwrap_or_default()
                    );
                }
                posts.refused += 1;
            }
            Err(_) => posts.refused += 1,
        }
    }
}

/// One throughput measurement: deliveries for the set duration on a fresh database with the
/// phase's jobs running, and with `telemetry` those jobs posting samples meanwhile.
struct TelemetryRun {
    results: PostResults,
    posts: TelemetryPosts,
    /// Samples in the database afterwards, and the bytes they take on disk.
    stored: SampleBytes,
}

/// Rows of `jobsamples` and the bytes on disk of its pages and of `jobsampletails`' (the jobs'
/// latest samples, schema version 9).
struct SampleBytes {
    rows: i64,
    samples: i64,
    tails: i64,
}

impl std::fmt::Display for SampleBytes {
    /// Bytes per sample, of the samples' pages and with the tails' too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = |bytes: i64| bytes as f64 / self.rows.max(1) as f64;
        write!(
            f,
            "{:.1} ({:.1} with the jobs' tails; {} rows)",
            per(self.samples),
            per(self.samples + self.tails),
            self.rows
        )
    }
}

async fn telemetry_run(
    args: &Args,
    issuer: &Issuer,
    deliveries: &Arc<Vec<Delivery>>,
    db: &Path,
    telemetry: bool,
) -> anyhow::Result<TelemetryRun> {
    let (server, _) = Server::start_with(
        db,
        &[
            "--actions-oidc-issuer",
            &issuer.url,
            "--public-url",
            PUBLIC_URL,
        ],
    )
    .await?;
    let seeded = post_for(server.addr, Arc::new(running_jobs()?), 8, Duration::MAX).await;
    anyhow::ensure!(seeded.failed == 0, "seeding the running jobs failed");
    let stop = tokio_util::sync::CancellationToken::new();
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/metrics", server.addr);
    let mut jobs = Vec::new();
    for k in (0..TELEMETRY_JOBS).filter(|_| telemetry) {
        let token = issuer.token(k)?;
        let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
        let started = chrono::Utc::now().timestamp() - 60; // as the deliveries say
        jobs.push(tokio::spawn(post_samples(
            client,
            url,
            token,
            (k, started),
            stop,
        )));
    }
    let mut results = post_for(
        server.addr,
        deliveries.clone(),
        args.connections,
        Duration::from_secs(args.duration),
    )
    .await;
    results.latencies.sort_unstable();
    stop.cancel();
    let mut posts = TelemetryPosts::default();
    for job in jobs {
        let job = job.await?;
        posts.accepted += job.accepted;
        posts.stored += job.stored;
        posts.refused += job.refused;
    }
    server.stop()?;
    let stored = sample_bytes(db)?;
    remove_database(db);
    Ok(TelemetryRun {
        results,
        posts,
        stored,
    })
}

/// The samples in `db` and their bytes on disk (SQLite's `dbstat`: `jobsamples` is `WITHOUT
/// ROWID`, so its primary key is the table itself and it has no other index).
fn sample_bytes(db: &Path) -> anyhow::Result<SampleBytes> {
    let conn = rusqlite::Connection::open(db)?;
    let pages = |table: &str| {
        conn.query_row(
            "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
    };
    Ok(SampleBytes {
        rows: conn.query_row("SELECT COUNT(*) FROM jobsamples", [], |r| r.get(0))?,
        samples: pages("jobsamples")?,
        tails: pages("jobsampletails")?,
    })
}

/// Samples on disk at scale: [`TELEMETRY_JOBS`] jobs of `minutes` each, their batches stored
/// through the store in the order they arrive (every job's batch of one period, then the
/// next period's); rows and bytes, as [`sample_bytes`].
fn sample_storage(db: &Path, minutes: i64) -> anyhow::Result<SampleBytes> {
    use buildboard::store::samples::{self, Sample};
    let store = Store::open(db)?;
    let mut conn = store.open_writer()?;
    let start = chrono::Utc::now().timestamp() - minutes * 60;
    for period in 0..minutes * 60 / POST_EVERY_S {
        let tx = conn.transaction()?;
        let now = start + (period + 1) * POST_EVERY_S;
        for k in 0..TELEMETRY_JOBS {
            let batch = sample_batch(k, now, start);
            let batch: Vec<Sample> = batch["samples"]
                .as_array()
                .expect("a batch holds samples")
                .iter()
                .map(stored_sample)
                .collect();
            // Job ids the size GitHub's are now (over 2^32).
            samples::insert(&tx, 30_000_000_000 + k, &batch)?;
        }
        tx.commit()?;
    }
    drop((conn, store));
    let measured = sample_bytes(db)?;
    remove_database(db);
    Ok(measured)
}

/// A posted sample as the server parses it.
fn stored_sample(s: &Value) -> buildboard::store::samples::Sample {
    let whole = |name: &str| s[name].as_i64();
    buildboard::store::samples::Sample {
        t: s["t"].as_i64().expect("a time"),
        cpu_user: s["cpu_user"].as_f64(),
        cpu_system: s["cpu_system"].as_f64(),
        mem_used: whole("mem_used"),
        mem_total: whole("mem_total"),
        disk_read: whole("disk_read"),
        disk_write: whole("disk_write"),
        net_rx: whole("net_rx"),
        net_tx: whole("net_tx"),
        extra: serde_json::Map::new(),
    }
}

async fn telemetry_phase(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let issuer = Issuer::start().await?;
    // Enough deliveries for 24,000/s (buildboard stored 13,000-17,000/s in this phase on this
    // machine): a run that exhausts them ends early, and its rate is still acked / elapsed.
    let count = 24_000 * args.duration;
    eprintln!("telemetry: preparing {count} signed deliveries…");
    let deliveries = Arc::new(make_deliveries(count, 0)?);
    let mut runs = Vec::new();
    for round in 0..args.telemetry_rounds {
        // The order alternates, so neither side always runs on the warmer machine.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for telemetry in order {
            eprintln!("telemetry: round {round}, telemetry {telemetry}…");
            let db = dir.join(format!("telemetry-{round}-{telemetry}.db"));
            let run = telemetry_run(args, &issuer, &deliveries, &db, telemetry).await?;
            runs.push((telemetry, run));
        }
    }
    eprintln!("telemetry: samples at scale…");
    let at_scale = sample_storage(&dir.join("samples.db"), args.telemetry_minutes)?;
    println!(
        "## Telemetry: {TELEMETRY_JOBS} running jobs posting {} samples every {POST_EVERY_S} s, while deliveries arrive ({} s, {} connections)\n",
        POST_EVERY_S / SAMPLE_EVERY_S,
        args.duration,
        args.connections
    );
    println!("| run | telemetry | deliveries/s | p50 ms | p99 ms | failed | posts accepted | samples stored | posts refused | bytes per sample on disk (with tails) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (n, (telemetry, run)) in runs.iter().enumerate() {
        let rate = run.results.acked.len() as f64 / run.results.elapsed.as_secs_f64();
        println!(
            "| {} | {} | {rate:.0} | {} | {} | {} | {} | {} | {} | {} |",
            n / 2 + 1,
            if *telemetry { "yes" } else { "no" },
            ms(percentile(&run.results.latencies, 0.5)),
            ms(percentile(&run.results.latencies, 0.99)),
            run.results.failed,
            run.posts.accepted,
            run.posts.stored,
            run.posts.refused,
            if run.stored.rows > 0 {
                run.stored.to_string()
            } else {
                "-".to_owned()
            },
        );
    }
    print_telemetry_ratio(&runs);
    println!(
        "\nsamples at scale ({TELEMETRY_JOBS} jobs x {} minutes, stored through the store in arrival order): {} + {} bytes of pages (samples + the jobs' tails), bytes per sample: **{at_scale}**\n",
        args.telemetry_minutes,
        at_scale.samples,
        at_scale.tails
    );
    Ok(())
}

/// Deliveries/s with telemetry against without: the medians of each side, and the median of
/// the rounds' own ratios (each round runs both sides back to back, so a round's ratio is the
/// least disturbed by what else the machine did meanwhile).
fn print_telemetry_ratio(runs: &[(bool, TelemetryRun)]) {
    let rate =
        |run: &TelemetryRun| run.results.acked.len() as f64 / run.results.elapsed.as_secs_f64();
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        match values.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    };
    let side = |telemetry: bool| {
        runs.iter()
            .filter(|(with, _)| *with == telemetry)
            .map(|(_, run)| rate(run))
            .collect::<Vec<_>>()
    };
    let (without, with) = (side(false), side(true));
    let ratios = without
        .iter()
        .zip(&with)
        .map(|(a, b)| b / a)
        .collect::<Vec<_>>();
    println!(
        "\ndeliveries/s, median of {} rounds: {:.0} without telemetry, {:.0} with (ratio {:.3}); median of the rounds' ratios **{:.3}** (rounds: {})",
        ratios.len(),
        median(without.clone()),
        median(with.clone()),
        median(with.clone()) / median(without.clone()),
        median(ratios.clone()),
        ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", ")
    );
}

// ---------------------------------------------------------------------------------------------

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
