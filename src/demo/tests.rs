//! The demo's promises: deterministic, organisation-sized, shaped like GitHub's deliveries.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::*;
use crate::github::event::{self, Event, EventKind};
use crate::run_state::{Conclusion, Status};

/// Monday 2026-11-30 09:46:40 UTC: the week before it holds a weekend and five working days.
const NOW: i64 = 1_796_032_000;

fn parsed(deliveries: &[Delivery]) -> Vec<(Event, Value)> {
    deliveries
        .iter()
        .map(|delivery| {
            let kind = EventKind::from_header(delivery.event).expect("a stored event");
            let event = event::parse(kind, &delivery.body)
                .unwrap_or_else(|err| panic!("{} {}: {err}", delivery.event, delivery.id));
            (event, serde_json::from_slice(&delivery.body).unwrap())
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_organisation_and_history() {
    // Arrange
    let org = Organisation::generate(7);

    // Act
    let again = Organisation::generate(7);
    let other = Organisation::generate(8);
    let mut first = Simulation::new(
        org.clone(),
        7,
        Options {
            runs_per_day: 100,
            ..Options::default()
        },
    );
    let mut second = Simulation::new(
        again.clone(),
        7,
        Options {
            runs_per_day: 100,
            ..Options::default()
        },
    );

    // Assert
    assert_eq!(org, again);
    assert_ne!(org, other);
    assert_eq!(first.history(NOW), second.history(NOW));
    assert_eq!(first.trickle(NOW + 300), second.trickle(NOW + 300));
}

#[test]
fn the_organisation_has_the_required_scale() {
    let org = Organisation::generate(1);
    for repo in &org.repos {
        let names: Vec<&str> = repo.workflows.iter().map(|w| w.name.as_str()).collect();
        println!("{} ({}): {names:?}", repo.full_name, repo.default_branch);
    }
    assert!(org.repos.len() >= 20, "{} repositories", org.repos.len());
    assert!(
        (85..=120).contains(&org.workflow_count()),
        "{} workflows",
        org.workflow_count()
    );
    assert!(org
        .repos
        .iter()
        .all(|repo| (3..=6).contains(&repo.workflows.len())));
    assert!(org.people.len() >= 30);
    assert!(org.people.iter().any(|p| p.login == "dependabot[bot]"));
    assert!(org.people.iter().any(|p| p.login == "renovate[bot]"));
    assert!(org.repos.iter().any(|repo| repo.default_branch == "master"));
    assert!(
        org.repos
            .iter()
            .filter(|repo| repo.release_branch.is_some())
            .count()
            >= 2
    );
    let ids: BTreeSet<i64> = org
        .repos
        .iter()
        .flat_map(|r| r.workflows.iter().map(|w| w.id))
        .collect();
    assert_eq!(ids.len(), org.workflow_count(), "workflow ids are unique");
}

#[test]
fn a_week_of_history_looks_like_an_organisation() {
    // Arrange
    let org = Organisation::generate(1);
    let mut simulation = Simulation::new(org.clone(), 1, Options::default());

    // Act
    let deliveries = simulation.history(NOW);

    // Assert: every delivery parses as the server parses it, in time order, with unique GUIDs.
    let events = parsed(&deliveries);
    assert!(deliveries.windows(2).all(|pair| pair[0].at <= pair[1].at));
    assert!(deliveries
        .iter()
        .all(|d| d.at <= NOW && d.at >= NOW - 7 * 86_400 - 3_600));
    let guids: BTreeSet<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(guids.len(), deliveries.len());

    let default_branch: BTreeMap<&str, &str> = org
        .repos
        .iter()
        .map(|r| (r.full_name.as_str(), r.default_branch.as_str()))
        .collect();
    let mut repos = BTreeSet::new();
    let mut workflows = BTreeSet::new();
    let mut runs = BTreeSet::new();
    let mut completed = BTreeSet::new();
    let mut reruns = BTreeSet::new();
    let mut branches = BTreeSet::new();
    // (repo, workflow) on the default branch → conclusions of attempt 1... in run order.
    let mut default_history: BTreeMap<(String, i64), Vec<(i64, Conclusion)>> = BTreeMap::new();
    let mut steps_seen = 0;
    for (event, json) in &events {
        if let Some(repo) = event.repository() {
            repos.insert(repo.full_name.clone());
        }
        match event {
            Event::WorkflowRun(run) => {
                let r = &run.workflow_run;
                workflows.insert(run.workflow.id);
                runs.insert(r.id);
                let branch = r.head_branch.clone().unwrap();
                if branch != default_branch[run.repository.full_name.as_str()] {
                    branches.insert((run.repository.full_name.clone(), branch.clone()));
                }
                if r.run_attempt == 2 {
                    reruns.insert(r.id);
                }
                if r.status == Status::Completed {
                    completed.insert(r.id);
                    if branch == default_branch[run.repository.full_name.as_str()]
                        && r.run_attempt == 1
                    {
                        default_history
                            .entry((run.repository.full_name.clone(), run.workflow.id))
                            .or_default()
                            .push((r.run_number, r.conclusion.clone().unwrap()));
                    }
                }
            }
            Event::WorkflowJob(job) => {
                let steps = json["workflow_job"]["steps"].as_array().unwrap();
                if job.action == "completed"
                    && job.workflow_job.conclusion != Some(Conclusion::Skipped)
                {
                    assert!(!steps.is_empty(), "a completed job has steps");
                    for step in steps {
                        for field in [
                            "name",
                            "number",
                            "status",
                            "conclusion",
                            "started_at",
                            "completed_at",
                        ] {
                            assert!(!step[field].is_null(), "step {field} in {step}");
                        }
                    }
                    steps_seen += steps.len();
                }
                if job.action == "queued" {
                    assert!(steps.is_empty());
                }
            }
            _ => {}
        }
    }
    let stats = simulation.stats();
    println!("{} deliveries, {} runs, {} re-runs, {} repos, {} workflows, {} branches, {steps_seen} steps; {stats:?}",
        deliveries.len(), runs.len(), reruns.len(), repos.len(), workflows.len(), branches.len());
    assert!(repos.len() >= 20, "{} repositories", repos.len());
    assert!(workflows.len() >= 85, "{} workflows ran", workflows.len());
    assert!(runs.len() >= 3_000, "{} runs", runs.len());
    let rerun_share = reruns.len() as f64 / runs.len() as f64;
    assert!(
        (0.005..0.03).contains(&rerun_share),
        "{} re-runs of {}",
        reruns.len(),
        runs.len()
    );
    assert!(steps_seen > 20_000, "{steps_seen} steps");
    // Feature branches of people and bots, and the release branch.
    assert!(branches.len() >= 100, "{} branches", branches.len());
    assert!(branches.iter().any(|(_, b)| b.starts_with("feature/")));
    assert!(branches.iter().any(|(_, b)| b.starts_with("fix/")));
    assert!(branches
        .iter()
        .any(|(_, b)| b.starts_with("dependabot/") || b.starts_with("renovate/")));
    assert!(branches.iter().any(|(_, b)| b == org::RELEASE_BRANCH));
    assert!(stats.branches_abandoned >= 5, "{stats:?}");
    // Incidents: a default branch red for several runs in a row, then green again.
    for history in default_history.values_mut() {
        history.sort_by_key(|(number, _)| *number);
    }
    let incidents = default_history
        .values()
        .filter(|history| {
            history
                .windows(3)
                .any(|w| w[0].1.is_red() && w[1].1.is_red() && w[2].1.is_green())
        })
        .count();
    assert!(incidents >= 3, "{incidents} incidents seen; {stats:?}");
    let red_now = default_history
        .values()
        .filter(|history| history.last().is_some_and(|(_, c)| c.is_red()))
        .count();
    assert!(red_now >= 1, "a default branch is red at now");
    // Some runs are still going at `now`, and finish in the trickle.
    let going: Vec<i64> = runs.difference(&completed).copied().collect();
    assert!(going.len() >= 3, "{} runs in progress at now", going.len());
    assert!(simulation.pending() > 0);
    let later = simulation.trickle(NOW + 3_600);
    let later_events = parsed(&later);
    assert!(later.iter().all(|d| d.at > NOW && d.at <= NOW + 3_600));
    let finished: BTreeSet<i64> = later_events
        .iter()
        .filter_map(|(event, _)| match event {
            Event::WorkflowRun(run) if run.workflow_run.status == Status::Completed => {
                Some(run.workflow_run.id)
            }
            _ => None,
        })
        .collect();
    assert!(
        going.iter().all(|id| finished.contains(id)),
        "every run going at now finishes"
    );
    assert!(
        later_events
            .iter()
            .any(|(event, _)| matches!(event, Event::Push(_))),
        "live pushes"
    );
}
