//! Integration tests: one binary, a real server per test (see `helpers`).

mod backfill;
mod fake_github;
mod helpers;
mod webhook;
mod ws;
