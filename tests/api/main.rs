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
mod modules;
mod notify;
mod ops;
mod people_act;
mod reliability;
mod runs;
mod scope;
mod seed;
mod settings;
mod sources;
mod telemetry;
mod triage;
mod tv;
mod webhook;
mod ws;
