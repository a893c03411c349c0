//! Clients for the Canton Ledger API v2 and Admin API.

pub mod proto;
