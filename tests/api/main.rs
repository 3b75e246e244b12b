//! Integration tests: one binary, a real server per test (see `helpers`).

mod board;
mod browser;
mod helpers;
mod seed;
mod webhook;
mod ws;
