//! The domain model of Portcullis: typed identifiers, the identity a login produces, Access
//! policies in Cloudflare's rule shapes and their evaluation with explanations, application
//! host/path matching, and Go-style durations.
//!
//! This crate is pure on purpose: no I/O, no async, no clock and no randomness (callers pass
//! random bytes in), so that every decision the gateway takes about who may reach what can be
//! tested, fuzzed and reasoned about in isolation. It knows nothing about HTTP, tokens, storage
//! or identity-provider protocols; those live in the crates that depend on it.

#![forbid(unsafe_code)]

mod domain;
mod duration;
mod error;
mod evaluate;
mod identity;
mod ids;
mod policy;

pub use domain::{AppRouter, DomainPattern, normalize_path};
pub use duration::{format_go_duration, parse_go_duration};
pub use error::{CoreError, DurationError, PolicyError};
pub use evaluate::{Evaluation, PolicyTrace, RuleSection, RuleTrace, evaluate};
pub use identity::Identity;
pub use ids::{AppId, Aud, Email, IdpId, SessionId, UserId};
pub use policy::{
    AzureGroupRule, Decision, EmailDomainRule, EmailRule, EveryoneRule, GsuiteGroupRule, OidcRule,
    OktaGroupRule, Policy, Rule, SUPPORTED_RULE_TYPES,
};
