//! SCIM provisioning scenarios (part of the one integration binary, `tests/gateway.rs`).
