//! The simulation: what the organisation does, as the webhook deliveries GitHub would send.
//!
//! Pushes arrive as a Poisson process that follows office hours (busy weekdays, quiet nights and
//! weekends), spread over the repositories by how busy each is. Each push lands on the default
//! branch (a direct commit, a merged pull request, or the fix of an incident), on a feature branch
//! (new, continued, a bot's dependency update, or one that stays red and is abandoned) or on the
//! release branch, and starts the workflows that trigger on that branch. Every run is planned
//! whole when it starts (jobs, queue waits, steps, failures, a re-run of a flaky failure), and its
//! deliveries wait in a queue ordered by time until they are due: the history is everything due
//! by `now`, and the trickle hands out the rest as time passes, with new pushes every few seconds.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{Datelike, Timelike};
use serde_json::Value;

use super::org::{actions_bot, Kind, Organisation, Repository};
use super::payload::{self, Commit, JobRun, Parts, Run, StepRun};
use super::{delivery_guid, Delivery, Rng};
use crate::run_state::{Conclusion, Status};

const DAY: i64 = 86_400;
const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// How much the simulated organisation does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Runs per day on average over the history (more on weekdays, fewer at night).
    pub runs_per_day: u32,
    /// Days of history before `now`.
    pub days: u32,
    /// Mean seconds between pushes in the live trickle.
    pub trickle_every: f64,
    /// Live runs take this fraction of real build times, so that the board visibly moves.
    pub live_speed: f64,
}

impl Default for Options {
    /// About 3,400 runs over a week; a push every 10 s once live, with runs at a quarter of their
    /// real duration (most finish within two minutes).
    fn default() -> Self {
        Self {
            runs_per_day: crate::config::DEFAULT_DEMO_RUNS_PER_DAY,
            days: 7,
            trickle_every: 10.0,
            live_speed: 0.25,
        }
    }
}

/// What the simulation has planned so far (runs and attempts are counted when they start, even
/// if their last deliveries are not due yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub pushes: usize,
    pub runs: usize,
    /// Second attempts: flaky failures re-run and passing.
    pub reruns: usize,
    pub jobs: usize,
    pub steps: usize,
    pub failed_runs: usize,
    pub scheduled_runs: usize,
    /// Branches created (feature, fix, chore and bots' dependency updates).
    pub branches_created: usize,
    pub branches_merged: usize,
    /// Branches that stay red and are never merged.
    pub branches_abandoned: usize,
    /// Breaks of a workflow on a default branch that last until a later fix.
    pub incidents: usize,
    pub fixes: usize,
}

/// What attempt 1 of a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    /// Job `n` fails.
    Failure(usize),
    /// Job `n` fails, and a re-run passes.
    Flaky(usize),
}

#[derive(Debug, Clone)]
struct Branch {
    name: String,
    head: Commit,
    author: usize,
    /// Pushes still to come before it is ready to merge.
    pushes_left: u32,
    abandoned: bool,
    pr: i64,
    title: String,
}

/// A workflow broken on the default branch until a fix after `until`.
#[derive(Debug, Clone)]
struct Incident {
    workflow: usize,
    job: usize,
    until: i64,
    cause: Commit,
    /// Pushes since the break that did not fix it.
    red_pushes: u32,
}

impl Incident {
    /// Whether a push at `at` fixes it: in the history after a few red commits and hours, live
    /// as soon as its time is up.
    fn fixed_by(&self, at: i64, live: bool) -> bool {
        self.until <= at && (live || self.red_pushes >= 2)
    }
}

#[derive(Debug, Clone)]
struct RepoState {
    head: Commit,
    release_head: Option<Commit>,
    branches: Vec<Branch>,
    incident: Option<Incident>,
    next_pr: i64,
    run_numbers: Vec<i64>,
    release_number: i64,
}

/// A delivery waiting until it is due; the heap pops the earliest (then the first planned).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: i64,
    seq: u64,
    event: &'static str,
    body: Bytes,
}

/// The organisation in motion. [`Simulation::history`] first, then [`Simulation::trickle`] as time
/// passes.
pub struct Simulation {
    org: Arc<Organisation>,
    parts: Arc<Parts>,
    options: Options,
    rng: Rng,
    repos: Vec<RepoState>,
    next_run_id: i64,
    next_job_id: i64,
    next_check_suite_id: i64,
    next_delivery: u64,
    seq: u64,
    pending: BinaryHeap<Reverse<Pending>>,
    /// Live pushes: the time of the next one, once the history is done.
    next_live_push: Option<i64>,
    live: bool,
    /// During the history: break a workflow on this repository's default branch at its
    /// default-branch push at this time, until the third field (shortly after `now`).
    forced_incident: Option<(usize, i64, i64)>,
    stats: Stats,
}

/// The history of `org` for the week before `now`, with default [`Options`] and the
/// organisation's seed.
pub fn history(org: &Organisation, now: i64) -> Vec<Delivery> {
    Simulation::new(org.clone(), org.seed, Options::default()).history(now)
}

impl Simulation {
    pub fn new(org: Organisation, seed: u64, options: Options) -> Self {
        let mut rng = Rng::new(seed ^ 0x5eed_d3e0);
        let repos = org
            .repos
            .iter()
            .map(|repo| RepoState {
                head: Commit {
                    sha: rng.sha(),
                    tree: rng.sha(),
                    message: "Initial commit".to_owned(),
                    author: repo.team[0],
                    at: repo.created_at,
                },
                release_head: repo.release_branch.as_ref().map(|_| Commit {
                    sha: rng.sha(),
                    tree: rng.sha(),
                    message: "chore(release): 2026.11.0".to_owned(),
                    author: actions_bot(&org),
                    at: repo.created_at,
                }),
                branches: Vec::new(),
                incident: None,
                next_pr: rng.between(40, 2_400),
                run_numbers: repo
                    .workflows
                    .iter()
                    .map(|_| rng.between(50, 9_000))
                    .collect(),
                release_number: 0,
            })
            .collect();
        let org = Arc::new(org);
        Self {
            next_run_id: 11_200_000_000 + rng.between(0, 99_999_999),
            next_job_id: 31_400_000_000 + rng.between(0, 99_999_999),
            next_check_suite_id: 29_000_000_000 + rng.between(0, 99_999_999),
            parts: Arc::new(Parts::new(org.clone())),
            org,
            options,
            rng,
            repos,
            next_delivery: 0,
            seq: 0,
            pending: BinaryHeap::new(),
            next_live_push: None,
            live: false,
            forced_incident: None,
            stats: Stats::default(),
        }
    }

    pub fn organisation(&self) -> &Organisation {
        &self.org
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Deliveries planned but not due yet (runs still going).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Every delivery of the `days` before `now`, oldest first: what GitHub would have sent a
    /// webhook over that time. Runs started shortly before `now` are still queued or in progress;
    /// their later deliveries come out of [`Simulation::trickle`]. Call once.
    pub fn history(&mut self, now: i64) -> Vec<Delivery> {
        let start = now - i64::from(self.options.days) * DAY;
        let org = self.org.clone();
        let mut events: Vec<(i64, Event)> = Vec::new();
        // Pushes, thinned from a Poisson process at the peak rate down to office hours.
        let pushes_per_day = self.pushes_per_day(&org);
        let mean_intensity = (0..i64::from(self.options.days) * 24)
            .map(|hour| intensity(start + hour * 3_600 + 1_800))
            .sum::<f64>()
            / f64::from(self.options.days * 24);
        let peak_rate = pushes_per_day / DAY as f64 / mean_intensity;
        let weights: Vec<f64> = org.repos.iter().map(|repo| repo.weight).collect();
        let mut t = start as f64;
        loop {
            t += self.rng.exponential(1.0 / peak_rate);
            if t >= now as f64 {
                break;
            }
            if self.rng.chance(intensity(t as i64)) {
                let repo = self.rng.weighted(&weights);
                events.push((t as i64, Event::Push(repo)));
            }
        }
        // A few pushes in the last minutes, so that something is running at `now`.
        for _ in 0..6 {
            let repo = self.rng.weighted(&weights);
            events.push((now - self.rng.between(20, 600), Event::Push(repo)));
        }
        // Scheduled workflows, a few minutes late as on GitHub.
        for day in 0..=i64::from(self.options.days) {
            let midnight = (start / DAY + day) * DAY;
            for (r, repo) in org.repos.iter().enumerate() {
                for (w, workflow) in repo.workflows.iter().enumerate() {
                    if let Some(hour) = workflow.on.schedule_hour {
                        let at = midnight + i64::from(hour) * 3_600 + self.rng.between(120, 900);
                        if (start..now).contains(&at) {
                            events.push((at, Event::Schedule(r, w)));
                        }
                    }
                }
            }
        }
        // Keep one default branch red at `now`: the busiest repository breaks in the last hour,
        // and the trickle fixes it a quarter of an hour after `now`.
        let busiest = (0..org.repos.len())
            .max_by(|a, b| org.repos[*a].weight.total_cmp(&org.repos[*b].weight))
            .expect("the organisation has repositories");
        events.push((now - self.rng.between(1_200, 3_000), Event::Break(busiest)));
        events.sort_by_key(|(at, _)| *at);
        for (at, event) in events {
            match event {
                Event::Push(repo) => self.push(repo, at),
                Event::Schedule(repo, workflow) => self.scheduled_run(repo, workflow, at),
                Event::Break(repo) => {
                    self.forced_incident = Some((repo, at, now + 15 * 60));
                    self.default_push(repo, at);
                }
            }
        }
        self.forced_incident = None;
        self.live = true;
        self.next_live_push = Some(now + self.rng.between(2, 6));
        self.due(now)
    }

    /// The deliveries due by `now` since the last call, after starting the live pushes up to
    /// `now`: a push every [`Options::trickle_every`] seconds on average, each starting its
    /// workflows; now and then one breaks a default branch, fixed a few minutes later.
    pub fn trickle(&mut self, now: i64) -> Vec<Delivery> {
        let org = self.org.clone();
        if let Some(mut next) = self.next_live_push {
            let weights: Vec<f64> = org.repos.iter().map(|repo| repo.weight).collect();
            while next <= now {
                // An incident past its time gets its fix now rather than at the next push.
                let overdue = self.repos.iter().position(|state| {
                    state
                        .incident
                        .as_ref()
                        .is_some_and(|incident| incident.until <= next)
                });
                match overdue {
                    Some(repo) => self.default_push(repo, next),
                    None => {
                        let repo = self.rng.weighted(&weights);
                        self.push(repo, next);
                    }
                }
                next += (self.rng.exponential(self.options.trickle_every) as i64).max(1);
            }
            self.next_live_push = Some(next);
        }
        self.due(now)
    }

    fn due(&mut self, now: i64) -> Vec<Delivery> {
        let mut due = Vec::new();
        while self
            .pending
            .peek()
            .is_some_and(|Reverse(pending)| pending.at <= now)
        {
            let Reverse(pending) = self.pending.pop().expect("peeked");
            due.push(Delivery {
                event: pending.event,
                id: delivery_guid(self.next_delivery),
                at: pending.at,
                body: pending.body,
            });
            self.next_delivery += 1;
        }
        due
    }

    fn emit(&mut self, at: i64, event: &'static str, body: Value) {
        let body = Bytes::from(serde_json::to_vec(&body).expect("JSON values serialise"));
        self.seq += 1;
        self.pending.push(Reverse(Pending {
            at,
            seq: self.seq,
            event,
            body,
        }));
    }

    /// Pushes per day that give [`Options::runs_per_day`] runs, given the workflows each kind of
    /// push starts and the scheduled runs.
    fn pushes_per_day(&self, org: &Organisation) -> f64 {
        let total_weight: f64 = org.repos.iter().map(|repo| repo.weight).sum();
        let mut runs_per_push = 0.0;
        let mut scheduled = 0.0;
        for repo in &org.repos {
            let (release, default, feature) = branch_shares(repo);
            let count = |pick: &dyn Fn(&super::org::Triggers) -> bool| {
                repo.workflows.iter().filter(|w| pick(&w.on)).count() as f64
            };
            let per_push = release * count(&|on| on.release)
                + default * count(&|on| on.default_branch)
                + feature * count(&|on| on.feature.is_some());
            runs_per_push += repo.weight / total_weight * per_push;
            scheduled += count(&|on| on.schedule_hour.is_some());
        }
        ((f64::from(self.options.runs_per_day) - scheduled) / runs_per_push).max(1.0)
    }

    fn commit(&mut self, author: usize, message: String, at: i64) -> Commit {
        Commit {
            sha: self.rng.sha(),
            tree: self.rng.sha(),
            message,
            author,
            at,
        }
    }

    /// A commit made a random time within `back` seconds before `at`.
    fn commit_before(
        &mut self,
        author: usize,
        message: String,
        at: i64,
        back: (i64, i64),
    ) -> Commit {
        let at = at - self.rng.between(back.0, back.1);
        self.commit(author, message, at)
    }

    fn team_member(&mut self, repo: &Repository) -> usize {
        *self.rng.pick(&repo.team)
    }

    /// A push to `repo` at `at`: release, default or feature branch.
    fn push(&mut self, r: usize, at: i64) {
        let org = self.org.clone();
        let repo = &org.repos[r];
        let (release, default, _) = branch_shares(repo);
        let roll = self.rng.unit();
        if roll < release {
            self.release_push(r, at);
        } else if roll < release + default {
            self.default_push(r, at);
        } else {
            self.feature_push(r, at);
        }
    }

    fn default_push(&mut self, r: usize, at: i64) {
        self.stats.pushes += 1;
        let org = self.org.clone();
        let repo = &org.repos[r];
        let incident = self.repos[r].incident.clone();
        let mut breaks = None;
        let live = self.live;
        let (commits, pusher) =
            if let Some(incident) = incident.as_ref().filter(|i| i.fixed_by(at, live)) {
                // The fix: a revert or a change to the code the tests caught.
                let author = incident.cause.author;
                let author = if org.people[author].bot {
                    self.team_member(repo)
                } else {
                    author
                };
                let cause = incident.cause.message.lines().next().unwrap_or_default();
                let message = if self.rng.chance(0.5) {
                    format!(
                        "Revert \"{cause}\"\n\nThis reverts commit {}.",
                        incident.cause.sha
                    )
                } else {
                    let workflow = &repo.workflows[incident.workflow];
                    format!(
                        "Fix {} on {} broken by {}",
                        workflow.jobs[incident.job].name,
                        repo.default_branch,
                        &incident.cause.sha[..7]
                    )
                };
                self.repos[r].incident = None;
                self.stats.fixes += 1;
                (
                    vec![self.commit_before(author, message, at, (30, 600))],
                    author,
                )
            } else if let Some(b) = self.ready_branch(r) {
                // Merge a pull request.
                let branch = self.repos[r].branches.remove(b);
                let merger = if org.people[branch.author].bot || self.rng.chance(0.5) {
                    self.team_member(repo)
                } else {
                    branch.author
                };
                let message = format!(
                    "Merge pull request #{} from {}/{}\n\n{}",
                    branch.pr, org.login, branch.name, branch.title
                );
                let merge = self.commit(merger, message, at);
                self.stats.branches_merged += 1;
                let before = branch.head.sha.clone();
                let deleted = at + self.rng.between(2, 8);
                self.emit(
                    deleted,
                    "delete",
                    payload::ref_change(&self.parts, r, &branch.name, merger, at, true),
                );
                self.emit(
                    deleted,
                    "push",
                    payload::push_deleted(&self.parts, r, &branch.name, &before, merger, at),
                );
                (vec![merge], merger)
            } else {
                let author = self.team_member(repo);
                let count = if self.rng.chance(0.75) { 1 } else { 2 };
                let commits = (0..count)
                    .map(|i| {
                        let message = self.message();
                        {
                            let back = (count - i) * self.rng.between(60, 1_800);
                            self.commit(author, message, at - back)
                        }
                    })
                    .collect();
                (commits, author)
            };
        let head = commits.last().expect("a push has commits").clone();
        // A new break, unless one is on already.
        if let Some(incident) = &mut self.repos[r].incident {
            incident.red_pushes += 1;
        }
        if self.repos[r].incident.is_none()
            && incident.as_ref().is_none_or(|i| !i.fixed_by(at, live))
        {
            let forced = self
                .forced_incident
                .filter(|(repo, after, _)| *repo == r && at >= *after);
            let chance = if self.live { 0.08 } else { 0.02 };
            if forced.is_some() || self.rng.chance(chance) {
                let candidates: Vec<usize> = (0..repo.workflows.len())
                    .filter(|w| repo.workflows[*w].on.default_branch)
                    .collect();
                if !candidates.is_empty() {
                    let workflow = *self.rng.pick(&candidates);
                    let job = self.rng.below(repo.workflows[workflow].jobs.len());
                    let until = match forced {
                        Some((_, _, until)) => until,
                        None if self.live => at + self.rng.between(120, 480),
                        None => {
                            at + (self.rng.exponential(2.5 * 3_600.0) as i64)
                                .clamp(2_400, 8 * 3_600)
                        }
                    };
                    breaks = Some(Incident {
                        workflow,
                        job,
                        until,
                        cause: head.clone(),
                        red_pushes: 0,
                    });
                    self.stats.incidents += 1;
                    self.forced_incident = None;
                }
            }
        }
        if breaks.is_some() {
            self.repos[r].incident = breaks;
        }
        let before = std::mem::replace(&mut self.repos[r].head, head.clone());
        let branch = repo.default_branch.clone();
        self.emit(
            at,
            "push",
            payload::push(
                &self.parts,
                r,
                &branch,
                &before.sha,
                &commits,
                false,
                pusher,
                at,
            ),
        );
        for (w, workflow) in repo.workflows.iter().enumerate() {
            if workflow.on.default_branch {
                let outcome = match &self.repos[r].incident {
                    Some(incident) if incident.workflow == w => Outcome::Failure(incident.job),
                    _ => self.ordinary_outcome(workflow.jobs.len(), 0.0),
                };
                self.plan_run(r, w, &branch, &head, "push", pusher, at, outcome);
            }
        }
    }

    /// A branch ready to merge, if one is (and the coin says to merge now).
    fn ready_branch(&mut self, r: usize) -> Option<usize> {
        let ready = self.repos[r]
            .branches
            .iter()
            .position(|b| b.pushes_left == 0 && !b.abandoned)?;
        self.rng.chance(0.8).then_some(ready)
    }

    fn feature_push(&mut self, r: usize, at: i64) {
        self.stats.pushes += 1;
        let org = self.org.clone();
        let repo = &org.repos[r];
        let active: Vec<usize> = (0..self.repos[r].branches.len())
            .filter(|b| self.repos[r].branches[*b].pushes_left > 0)
            .collect();
        let (b, created) = if !active.is_empty() && self.rng.chance(0.6) {
            let b = *self.rng.pick(&active);
            let branch = &mut self.repos[r].branches[b];
            branch.pushes_left -= 1;
            let author = branch.author;
            let message = self.message();
            let commit = self.commit_before(author, message, at, (20, 900));
            let branch = &mut self.repos[r].branches[b];
            let before = std::mem::replace(&mut branch.head, commit);
            let branch = branch.clone();
            self.emit(
                at,
                "push",
                payload::push(
                    &self.parts,
                    r,
                    &branch.name,
                    &before.sha,
                    std::slice::from_ref(&branch.head),
                    false,
                    branch.author,
                    at,
                ),
            );
            (b, false)
        } else {
            let branch = self.new_branch(r, at);
            self.emit(
                at,
                "create",
                payload::ref_change(&self.parts, r, &branch.name, branch.author, at, false),
            );
            self.emit(
                at,
                "push",
                payload::push(
                    &self.parts,
                    r,
                    &branch.name,
                    ZERO_SHA,
                    std::slice::from_ref(&branch.head),
                    true,
                    branch.author,
                    at,
                ),
            );
            self.repos[r].branches.push(branch);
            (self.repos[r].branches.len() - 1, true)
        };
        let branch = self.repos[r].branches[b].clone();
        self.stats.branches_created += usize::from(created);
        for (w, workflow) in repo.workflows.iter().enumerate() {
            if let Some(event) = workflow.on.feature {
                let outcome = if branch.abandoned {
                    Outcome::Failure(workflow.jobs.len() - 1)
                } else {
                    self.ordinary_outcome(workflow.jobs.len(), 0.06)
                };
                self.plan_run(
                    r,
                    w,
                    &branch.name,
                    &branch.head,
                    event,
                    branch.author,
                    at,
                    outcome,
                );
            }
        }
    }

    /// A new branch: a person's feature, fix or chore, or a bot's dependency update.
    fn new_branch(&mut self, r: usize, at: i64) -> Branch {
        let org = self.org.clone();
        let repo = &org.repos[r];
        let pr = self.repos[r].next_pr;
        self.repos[r].next_pr += self.rng.between(1, 4);
        if self.rng.chance(0.22) {
            let bot = repo.bot;
            let dependency = *self.rng.pick(repo.language.dependencies());
            let (major, minor, patch) = (
                self.rng.between(0, 5),
                self.rng.between(0, 40),
                self.rng.between(0, 20),
            );
            let dependabot = org.people[bot].login.starts_with("dependabot");
            let (name, title) = if dependabot {
                (
                    format!(
                        "dependabot/{}/{}-{major}.{minor}.{}",
                        repo.language.ecosystem(),
                        dependency.replace(':', "-"),
                        patch + 1
                    ),
                    format!(
                        "Bump {dependency} from {major}.{minor}.{patch} to {major}.{minor}.{}",
                        patch + 1
                    ),
                )
            } else {
                (
                    format!(
                        "renovate/{}-{}.x",
                        dependency.replace(['/', ':', '@'], "-"),
                        major + 1
                    ),
                    format!("chore(deps): update {dependency} to v{}", major + 1),
                )
            };
            // A major update sometimes breaks the build and waits for a person, for ever.
            let abandoned = !dependabot && self.rng.chance(0.3);
            self.stats.branches_abandoned += usize::from(abandoned);
            let head = self.commit(bot, title.clone(), at);
            return Branch {
                name,
                head,
                author: bot,
                pushes_left: 0,
                abandoned,
                pr,
                title,
            };
        }
        let author = self.team_member(repo);
        let (prefix, topic, title) = *self.rng.pick(TOPICS);
        let abandoned = self.rng.chance(0.07);
        self.stats.branches_abandoned += usize::from(abandoned);
        let head = self.commit_before(author, title.to_owned(), at, (60, 3_600));
        Branch {
            name: format!("{prefix}/{topic}-{}", pr % 1_000),
            head,
            author,
            pushes_left: self.rng.between(0, 4) as u32,
            abandoned,
            pr,
            title: title.to_owned(),
        }
    }

    fn release_push(&mut self, r: usize, at: i64) {
        self.stats.pushes += 1;
        let org = self.org.clone();
        let repo = &org.repos[r];
        let Some(branch) = repo.release_branch.clone() else {
            self.stats.pushes -= 1;
            return self.default_push(r, at);
        };
        let state = &mut self.repos[r];
        state.release_number += 1;
        let number = state.release_number;
        let cherry_pick = state.head.clone();
        let (author, message) = if self.rng.chance(0.5) {
            (
                actions_bot(&org),
                format!("chore(release): 2026.11.{number}"),
            )
        } else {
            let first_line = cherry_pick
                .message
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            (
                self.team_member(repo),
                format!(
                    "{first_line}\n\n(cherry picked from commit {})",
                    cherry_pick.sha
                ),
            )
        };
        let head = self.commit_before(author, message, at, (10, 300));
        let before = self.repos[r]
            .release_head
            .replace(head.clone())
            .expect("a repository with a release branch has a release head");
        self.emit(
            at,
            "push",
            payload::push(
                &self.parts,
                r,
                &branch,
                &before.sha,
                std::slice::from_ref(&head),
                false,
                author,
                at,
            ),
        );
        let actor = if org.people[author].bot {
            self.team_member(repo)
        } else {
            author
        };
        for (w, workflow) in repo.workflows.iter().enumerate() {
            if workflow.on.release {
                let outcome = self.ordinary_outcome(workflow.jobs.len(), 0.0);
                self.plan_run(r, w, &branch, &head, "push", actor, at, outcome);
            }
        }
    }

    fn scheduled_run(&mut self, r: usize, w: usize, at: i64) {
        let org = self.org.clone();
        let repo = &org.repos[r];
        let head = self.repos[r].head.clone();
        let outcome = match &self.repos[r].incident {
            Some(incident) if incident.workflow == w => Outcome::Failure(incident.job),
            _ => self.ordinary_outcome(repo.workflows[w].jobs.len(), 0.02),
        };
        self.stats.scheduled_runs += 1;
        let branch = repo.default_branch.clone();
        self.plan_run(r, w, &branch, &head, "schedule", repo.team[0], at, outcome);
    }

    /// A run that nothing in particular breaks: it fails with probability `failing`, or fails
    /// flakily (passing on re-run) about one time in 65.
    fn ordinary_outcome(&mut self, jobs: usize, failing: f64) -> Outcome {
        let roll = self.rng.unit();
        if roll < failing {
            Outcome::Failure(self.rng.below(jobs))
        } else if roll < failing + 0.015 {
            Outcome::Flaky(self.rng.below(jobs))
        } else {
            Outcome::Success
        }
    }

    /// A commit message for ordinary work.
    fn message(&mut self) -> String {
        let (_, _, title) = *self.rng.pick(TOPICS);
        let subject = *self.rng.pick(MESSAGES);
        if self.rng.chance(0.3) {
            format!("{subject}\n\nPart of {}.", title.to_lowercase())
        } else {
            subject.to_owned()
        }
    }

    /// Plans a run whole (attempt 1, and attempt 2 for a flaky failure) and queues its deliveries.
    #[allow(clippy::too_many_arguments)]
    fn plan_run(
        &mut self,
        r: usize,
        w: usize,
        branch: &str,
        head: &Commit,
        event: &str,
        actor: usize,
        pushed: i64,
        outcome: Outcome,
    ) {
        let org = self.org.clone();
        let repo = &org.repos[r];
        let workflow = &repo.workflows[w];
        let speed = if self.live {
            self.options.live_speed
        } else {
            1.0
        };
        self.next_run_id += self.rng.between(1, 90);
        self.next_check_suite_id += self.rng.between(1, 90);
        self.repos[r].run_numbers[w] += 1;
        let created = pushed + self.rng.between(2, 12);
        let mut run = Run {
            workflow,
            id: self.next_run_id,
            number: self.repos[r].run_numbers[w],
            attempt: 1,
            check_suite_id: self.next_check_suite_id,
            branch,
            head,
            event,
            actor,
            triggering_actor: actor,
            created_at: created,
            run_started_at: created,
        };
        let failing = match outcome {
            Outcome::Success => None,
            Outcome::Failure(job) | Outcome::Flaky(job) => Some(job),
        };
        let end = self.plan_attempt(r, &run, failing, speed);
        self.stats.runs += 1;
        self.stats.failed_runs += usize::from(matches!(outcome, Outcome::Failure(_)));
        if let Outcome::Flaky(_) = outcome {
            // Someone re-runs it after a look at the logs; it passes.
            let rerun = end + (self.rng.between(120, 1_500) as f64 * speed) as i64;
            run.attempt = 2;
            run.run_started_at = rerun;
            if !org.people[actor].bot && self.rng.chance(0.7) {
                run.triggering_actor = actor;
            } else {
                run.triggering_actor = self.team_member(repo);
            }
            self.next_check_suite_id += 1;
            self.plan_attempt(r, &run, None, speed);
            self.stats.reruns += 1;
        }
    }

    /// Plans one attempt's jobs and queues its deliveries; returns when it completes.
    fn plan_attempt(&mut self, r: usize, run: &Run<'_>, failing: Option<usize>, speed: f64) -> i64 {
        let start = run.run_started_at;
        let mut jobs: Vec<JobRun> = Vec::new();
        for (j, job) in run.workflow.jobs.iter().enumerate() {
            self.next_job_id += self.rng.between(1, 40);
            let previous = jobs.last();
            let ready = match previous {
                Some(previous) if job.needs_previous => {
                    previous.completed_at + self.rng.between(1, 4)
                }
                _ => start + self.rng.between(1, 5),
            };
            if job.needs_previous && previous.is_some_and(|p| p.conclusion != Conclusion::Success) {
                jobs.push(JobRun {
                    id: self.next_job_id,
                    name: job.name.clone(),
                    runner: job.runner,
                    runner_number: 0,
                    queued_at: ready,
                    started_at: ready,
                    completed_at: ready,
                    conclusion: Conclusion::Skipped,
                    steps: Vec::new(),
                });
                continue;
            }
            let (low, high) = job.runner.queue_seconds();
            let wait =
                (low as f64 + self.rng.exponential((high - low) as f64 / 4.0)).min(high as f64);
            let started = ready + ((wait * speed) as i64).max(1);
            let total = (f64::from(job.seconds) * self.rng.jitter() * speed).max(8.0);
            let fails = failing == Some(j);
            // Small steps take seconds; the main ones share the rest.
            let small: Vec<i64> = job
                .steps
                .iter()
                .map(|step| {
                    if step.main {
                        0
                    } else if step.always {
                        self.rng.between(0, 1)
                    } else {
                        self.rng.between(1, 6)
                    }
                })
                .collect();
            let main_count = job.steps.iter().filter(|step| step.main).count().max(1) as f64;
            let main_total = (total - small.iter().sum::<i64>() as f64).max(main_count * 2.0);
            let mut steps = Vec::with_capacity(job.steps.len());
            let mut clock = started;
            let mut number = 1;
            let mut failed = false;
            for (s, step) in job.steps.iter().enumerate() {
                if step.always && !job.steps[s - 1].always {
                    number += self.rng.between(0, 5); // post steps are numbered after a gap
                }
                let conclusion = if failed && !step.always {
                    Conclusion::Skipped
                } else if fails && s == job.failing_step {
                    Conclusion::Failure
                } else {
                    Conclusion::Success
                };
                failed |= conclusion == Conclusion::Failure;
                let duration = match conclusion {
                    Conclusion::Skipped => 0,
                    _ if step.main => {
                        let share = main_total / main_count * (0.6 + 0.8 * self.rng.unit());
                        if conclusion == Conclusion::Failure {
                            (share * (0.3 + 0.7 * self.rng.unit())) as i64
                        } else {
                            share as i64
                        }
                    }
                    _ => small[s],
                };
                steps.push(StepRun {
                    name: step.name.clone(),
                    number,
                    started_at: clock,
                    completed_at: clock + duration,
                    conclusion,
                });
                clock += duration;
                number += 1;
            }
            self.stats.jobs += 1;
            self.stats.steps += steps.len();
            jobs.push(JobRun {
                id: self.next_job_id,
                name: job.name.clone(),
                runner: job.runner,
                runner_number: self.rng.between(1, 80),
                queued_at: ready,
                started_at: started,
                completed_at: clock.max(started + 1),
                conclusion: if failed {
                    Conclusion::Failure
                } else {
                    Conclusion::Success
                },
                steps,
            });
        }
        let first_start = jobs
            .iter()
            .filter(|job| job.conclusion != Conclusion::Skipped)
            .map(|job| job.started_at)
            .min()
            .unwrap_or(start);
        let end = jobs
            .iter()
            .map(|job| job.completed_at)
            .max()
            .unwrap_or(start)
            + 1;
        let conclusion = if jobs.iter().any(|job| job.conclusion == Conclusion::Failure) {
            Conclusion::Failure
        } else {
            Conclusion::Success
        };
        self.emit(
            start,
            "workflow_run",
            payload::workflow_run(&self.parts, r, run, Status::Requested, None, start),
        );
        self.emit(
            first_start,
            "workflow_run",
            payload::workflow_run(&self.parts, r, run, Status::InProgress, None, first_start),
        );
        for job in &jobs {
            if job.conclusion != Conclusion::Skipped {
                self.emit(
                    job.queued_at,
                    "workflow_job",
                    payload::workflow_job(&self.parts, r, run, job, Status::Queued),
                );
                self.emit(
                    job.started_at,
                    "workflow_job",
                    payload::workflow_job(&self.parts, r, run, job, Status::InProgress),
                );
            }
            self.emit(
                job.completed_at,
                "workflow_job",
                payload::workflow_job(&self.parts, r, run, job, Status::Completed),
            );
        }
        self.emit(
            end,
            "workflow_run",
            payload::workflow_run(
                &self.parts,
                r,
                run,
                Status::Completed,
                Some(conclusion),
                end,
            ),
        );
        end
    }
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Push(usize),
    Schedule(usize, usize),
    /// A push to the default branch that breaks it.
    Break(usize),
}

/// Shares of pushes to the release branch, the default branch and feature branches.
fn branch_shares(repo: &Repository) -> (f64, f64, f64) {
    let release = if repo.release_branch.is_some() {
        0.06
    } else {
        0.0
    };
    let default = if repo.kind == Kind::Infra { 0.5 } else { 0.4 };
    (release, default, 1.0 - release - default)
}

/// How busy the organisation is at `at` (UTC), from 0 to 1: office hours on weekdays.
fn intensity(at: i64) -> f64 {
    let time = chrono::DateTime::from_timestamp(at, 0).expect("demo times are in range");
    let weekend = time.weekday().number_from_monday() >= 6;
    let by_hour = match time.hour() {
        0..=5 => 0.05,
        6..=7 => 0.25,
        8 => 0.6,
        9..=11 | 13..=16 => 1.0,
        12 => 0.7,
        17 => 0.8,
        18..=20 => 0.35,
        _ => 0.12,
    };
    if weekend {
        by_hour * 0.15
    } else {
        by_hour
    }
}

/// (branch prefix, topic, pull request title)
const TOPICS: &[(&str, &str, &str)] = &[
    (
        "feature",
        "retry-backoff",
        "Retry provider calls with exponential backoff",
    ),
    ("feature", "invoice-pdf", "Render invoices as PDF"),
    ("feature", "rate-limiter", "Add a per-tenant rate limiter"),
    ("feature", "dark-mode", "Dark mode for the dashboard"),
    (
        "feature",
        "oauth-pkce",
        "Support OAuth PKCE for public clients",
    ),
    ("feature", "csv-export", "CSV export for reports"),
    ("feature", "bulk-import", "Bulk import of catalogue items"),
    ("feature", "audit-log", "Audit log for admin actions"),
    (
        "feature",
        "feature-flags",
        "Move feature flags to the config service",
    ),
    ("feature", "webhooks-v2", "Webhooks v2 with signed payloads"),
    ("feature", "multi-currency", "Multi-currency prices"),
    ("feature", "search-facets", "Facets in product search"),
    ("fix", "timezone-reports", "Fix timezones in daily reports"),
    ("fix", "null-cart", "Handle empty carts at checkout"),
    (
        "fix",
        "double-charge",
        "Prevent double charges on retried payments",
    ),
    (
        "fix",
        "pagination-off-by-one",
        "Fix off-by-one in pagination",
    ),
    (
        "fix",
        "memory-leak-worker",
        "Fix a memory leak in the export worker",
    ),
    ("fix", "flaky-snapshot", "Stabilise the snapshot tests"),
    ("chore", "node-22", "Move to Node 22"),
    ("chore", "tracing", "Trace background jobs"),
    ("refactor", "config-loader", "Refactor the config loader"),
    ("refactor", "split-orders", "Split the orders module"),
];

const MESSAGES: &[&str] = &[
    "Add retries with backoff to the provider client",
    "Fix off-by-one in invoice line pagination",
    "Raise the connection pool to 32",
    "Refactor the config loader",
    "Remove the legacy v1 endpoints",
    "Log the request id on every error",
    "Speed up the integration test fixtures",
    "Handle empty carts at checkout",
    "Update the README with local setup steps",
    "Cache feature flags for 30 seconds",
    "Validate currency codes on input",
    "Add metrics for queue depth",
    "Fix timezone handling in daily reports",
    "Tighten the Content-Security-Policy header",
    "Use structured errors in the API layer",
    "Rename customer_id to account_id",
    "Add OpenAPI descriptions for the admin endpoints",
    "Guard against a missing region in the scheduler",
    "Wire up tracing for background jobs",
    "feat(api): paginate the orders endpoint",
    "fix(ui): keep the filter open after a reload",
    "chore: tidy up unused imports",
    "test: cover the refund edge cases",
    "docs: explain the deploy process",
    "perf: batch the inventory lookups",
    "Address review comments",
    "WIP",
    "Fix lint",
];
