//! Fuzzes payload parsing: the first byte picks the `X-GitHub-Event` kind, the rest is the body.
//! Parsing must never panic, whatever the bytes; a parsed event must hold names and texts within
//! their caps (its statuses are `run_state::Status` values, valid by type).
#![no_main]

use buildboard::github::event::{self, Event, EventKind, MAX_NAME_BYTES, MAX_TEXT_BYTES};
use libfuzzer_sys::fuzz_target;

const KINDS: [EventKind; 6] = [
    EventKind::Ping,
    EventKind::Push,
    EventKind::Create,
    EventKind::Delete,
    EventKind::WorkflowRun,
    EventKind::WorkflowJob,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = KINDS[usize::from(selector) % KINDS.len()];
    let Ok(parsed) = event::parse(kind, body) else {
        return;
    };
    if let Some(repo) = parsed.repository() {
        assert!(repo.full_name.len() <= MAX_NAME_BYTES);
    }
    match parsed {
        Event::WorkflowRun(run) => {
            let run = &run.workflow_run;
            assert!(run
                .display_title
                .as_ref()
                .is_none_or(|t| t.len() <= MAX_TEXT_BYTES));
            if let Some(commit) = &run.head_commit {
                assert!(commit
                    .message
                    .as_ref()
                    .is_none_or(|m| m.len() <= MAX_TEXT_BYTES));
            }
        }
        Event::WorkflowJob(job) => {
            let job = &job.workflow_job;
            assert!(job.name.len() <= MAX_NAME_BYTES);
        }
        Event::Push(push) => {
            for commit in push.commits.iter().chain(push.head_commit.as_ref()) {
                assert!(commit
                    .message
                    .as_ref()
                    .is_none_or(|m| m.len() <= MAX_TEXT_BYTES));
            }
        }
        Event::Ping(_)
        | Event::Create(_)
        | Event::Delete(_)
        | Event::CheckRun(_)
        | Event::Status(_) => {}
    }
});
