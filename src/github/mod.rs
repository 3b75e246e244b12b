//! GitHub: webhook signature checks, payload parsing, and the REST client.

pub mod client;
pub mod event;
pub mod signature;
