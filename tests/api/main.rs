//! Integration tests: one binary, a real server per test (see `helpers`).

mod api;
mod backfill;
mod fake_github;
mod helpers;
mod ops;
mod reliability;
mod webhook;
mod ws;
