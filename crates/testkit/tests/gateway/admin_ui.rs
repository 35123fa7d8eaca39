//! Web admin UI scenarios (part of the one integration binary, `tests/gateway.rs`).
