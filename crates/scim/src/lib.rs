//! SCIM 2.0 (RFC 7643/7644) as a service provider speaks it to Entra ID, Okta, JumpCloud and
//! OneLogin: filter parsing and evaluation, User/Group resources built from request bodies,
//! PATCH parsing and application (a group PATCH becomes a membership delta a store can run in
//! one transaction), list queries and projections, and the discovery documents.
//!
//! It is pure protocol on purpose: no HTTP server, no SQL, no clock, no randomness. Callers
//! pass in identifiers, timestamps and stored state, and get back values, JSON and
//! [`ScimError`]s that already carry their HTTP status. The storage and the HTTP adapter live in
//! other crates; real clients' quirks (capitalised ops, string booleans, path-less PATCH with
//! dotted and URN keys) are absorbed here so that neither of them has to know about them.

#![forbid(unsafe_code)]

mod datetime;
mod error;
pub mod filter;
mod limits;
mod patch;
pub mod query;
mod resource;
pub mod schema;

pub use datetime::Timestamp;
pub use error::{ERROR_SCHEMA, ScimError, ScimType};
pub use filter::{AttributePath, CompValue, CompareOp, Filter, IndexedAttribute};
pub use limits::Limits;
pub use patch::{
    GroupChange, MembersChange, PatchOp, PatchOperation, PatchRequest,
    apply_group_change_to_members, apply_user_patch, plan_group_patch,
};
pub use query::{ListQuery, SortOrder, list_response, project};
pub use resource::{
    Email, EnterpriseUser, Group, GroupData, Member, Meta, ParsedUser, User, UserData, etag,
    etag_matches,
};
pub use schema::ResourceSchema;
