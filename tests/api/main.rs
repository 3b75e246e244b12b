//! Integration tests: one binary, a real server per test (see `helpers`).

mod api;
mod backfill;
mod board;
mod browser;
mod cctray;
mod failure_logs;
mod fake_github;
mod helpers;
mod notify;
mod ops;
mod reliability;
mod seed;
mod sources;
mod triage;
mod webhook;
mod ws;
