//! Portcullis, the gateway: configuration, listeners, the proxy data plane for application
//! domains, the `/cdn-cgi/access/*` endpoints and login flow on the team domain, and the demo.
//!
//! This crate is the only one that knows HTTP servers. Decisions live elsewhere: policies in
//! `portcullis-core`, tokens in `portcullis-jose`, the OIDC relying party in `portcullis-oidc`,
//! persistence in `portcullis-store`.

pub mod access;
pub mod admin_api;
pub mod admin_ui;
pub mod cli;
pub mod config;
pub mod cookies;
pub mod cors;
pub mod demo;
pub mod enforce;
pub mod gateway;
pub mod idp_test;
pub mod keys;
pub mod objects;
pub mod proxy;
pub mod registry;
pub mod request_id;
pub mod respond;
pub mod run;
pub mod scim_api;
pub mod scim_resources;
pub mod scim_sync;
pub mod seal;
pub mod server;
pub mod service_tokens;
pub mod snapshot;
pub mod tester;
pub mod tokens;

pub use config::Config;
pub use gateway::Gateway;
pub use run::Running;
