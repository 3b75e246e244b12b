//! Integration tests: one binary, a real server per test (see `helpers`).

mod act;
mod api;
mod backfill;
mod board;
mod browser;
mod cctray;
mod demo;
mod failure_logs;
mod fake_github;
mod github_app;
mod helpers;
mod joblogs;
mod notify;
mod ops;
mod reliability;
mod runs;
mod scope;
mod seed;
mod sources;
mod telemetry;
mod triage;
mod tv;
mod webhook;
mod ws;
