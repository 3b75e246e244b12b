//! The demo organisation: a simulated GitHub organisation whose webhooks go through the real
//! `/webhook` path, so a newcomer sees a living board in one command (`buildboard demo`), and tests
//! and screenshots get an organisation rather than one repository.
//!
//! # Layout
//! - [`org`]: [`Organisation::generate`] — 25 repositories, about 100 workflows, 28 people and 3
//!   bots, from a seed.
//! - [`sim`]: [`Simulation`] — a week of history (pushes, branches, runs, jobs with steps, re-runs,
//!   incidents on default branches) and then a live trickle, as webhook [`Delivery`]s.
//! - [`payload`]: the JSON bodies, shaped like GitHub's (the fixtures under
//!   `tests/fixtures/github/webhooks` are the templates).
//! - [`post`]: signs and posts deliveries to a server, a few at a time; the live trickle.
//! - [`logs`]: the jobs' logs, made from what the simulation chose (the failed step's tool says
//!   why, as cargo, pytest, go test, Jest, Gradle or Docker would).
//! - [`github`]: a fake of GitHub's log endpoint (and the reconciler's reads) on loopback.
//! - [`run`]: `buildboard demo`: a fresh database, the server in-process, history, trickle.
//!
//! Everything is deterministic for a given seed and `now`: the same organisation, the same history
//! and the same delivery GUIDs.

pub mod github;
pub mod logs;
pub mod org;
pub mod payload;
pub mod post;
pub mod run;
pub mod sim;

pub use org::Organisation;
pub use post::{post_all, trickle, Posted};
pub use run::{run, LOG_FILTER};
pub use sim::{history, Options, Simulation, Stats};

use bytes::Bytes;

/// One webhook delivery, ready to sign and post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The `X-GitHub-Event` header: `push`, `create`, `delete`, `workflow_run` or `workflow_job`.
    pub event: &'static str,
    /// The `X-GitHub-Delivery` header: a GUID shaped like GitHub's.
    pub id: String,
    /// When GitHub would send it (seconds since the Unix epoch).
    pub at: i64,
    /// The JSON body.
    pub body: Bytes,
}

/// A well-mixed 64-bit value for `n` (SplitMix64's finaliser). Shared with the load tool.
pub fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Delivery `n`'s GUID, made as GitHub makes them: a version-1 (time-based) UUID such as
/// `72d3162e-cc78-11e3-81ab-4c9367dc0958`, from one of eight senders whose clocks disagree by up
/// to half a millisecond, 100 µs apart. Distinct for distinct `n`. Shared with the load tool.
pub fn delivery_guid(n: u64) -> String {
    let time = 0x1ee_0000_0000_0000 + n * 1_000 + mix(n) % 5_000; // 100 ns units
    format!(
        "{:08x}-{:04x}-1{:03x}-{:04x}-{:012x}",
        time & 0xffff_ffff,
        (time >> 32) & 0xffff,
        (time >> 48) & 0xfff,
        0x8000 | (mix(n ^ 1 << 61) & 0x3fff),
        mix(n % 8) & 0xffff_ffff_ffff
    )
}

/// A small deterministic random generator (SplitMix64): the demo must give the same organisation
/// for the same seed whatever version of `rand` is built in.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(mix(seed))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let value = mix(self.0);
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        value
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `low..=high`.
    pub(crate) fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next_u64() % (high - low + 1) as u64) as i64
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Exponentially distributed with this mean.
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// A factor around 1 with the spread of real build times (log-normal, sigma 0.25).
    pub(crate) fn jitter(&mut self) -> f64 {
        let (u, v) = (1.0 - self.unit(), self.unit());
        let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        (0.25 * normal).exp()
    }

    /// Index chosen with probability proportional to its weight.
    pub(crate) fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut target = self.unit() * total;
        for (i, weight) in weights.iter().enumerate() {
            if target < *weight {
                return i;
            }
            target -= weight;
        }
        weights.len() - 1
    }

    /// 40 hex digits, like a commit hash.
    pub(crate) fn sha(&mut self) -> String {
        format!(
            "{:016x}{:016x}{:08x}",
            self.next_u64(),
            self.next_u64(),
            self.next_u64() >> 32
        )
    }
}

#[cfg(test)]
mod tests;
