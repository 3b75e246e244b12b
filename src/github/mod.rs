//! GitHub: webhook signature checks, payload parsing, the REST client, the GitHub App (manifest,
//! JWT, installation tokens), sign-in with GitHub (the App's user authorisation) and requests made
//! as a signed-in person (`person`).

pub mod app;
pub mod client;
pub mod dispatch;
pub mod event;
pub mod oauth;
pub mod person;
pub mod signature;
