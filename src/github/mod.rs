//! GitHub: webhook signature checks and payload parsing.

pub mod event;
pub mod signature;
