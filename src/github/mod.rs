//! GitHub: webhook signature checks, payload parsing, the REST client, the GitHub App (manifest,
//! JWT, installation tokens) and sign-in with GitHub (the App's user authorisation).

pub mod app;
pub mod client;
pub mod event;
pub mod oauth;
pub mod signature;
