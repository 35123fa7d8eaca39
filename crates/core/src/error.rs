//! The one error type of this crate.

use thiserror::Error;

/// Everything that can be wrong with a value handed to this crate.
///
/// Each variant names the offending input (shortened, so that a hostile or accidental megabyte
/// does not end up in a log line) and says what would have been valid, because these errors are
/// what an operator reads when start-up refuses a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CoreError {
    /// An email address that cannot be normalised into an [`crate::Email`].
    #[error("invalid email address {input:?}: {reason}")]
    InvalidEmail {
        /// The input, shortened.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An identifier (AUD tag, session id, UUID) with the wrong shape.
    #[error("invalid {kind} {input:?}: {reason}")]
    InvalidIdentifier {
        /// Which identifier was being parsed, e.g. "AUD tag".
        kind: &'static str,
        /// The input, shortened.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A policy that cannot be enforced as written.
    #[error("policy {policy:?}: {reason}")]
    InvalidPolicy {
        /// The policy's name.
        policy: String,
        /// What is wrong with it and what would be valid.
        reason: String,
    },
    /// An application domain (host with optional path) that cannot be matched.
    #[error("invalid application domain {input:?}: {reason}")]
    InvalidDomain {
        /// The input, shortened.
        input: String,
        /// What is wrong with it and what would be valid.
        reason: String,
    },
    /// Two applications claim exactly the same domain, so routing between them would be a guess.
    #[error(
        "application domain {domain:?} is declared by both application #{first} and #{second}; \
         each domain (host and path) may belong to one application only"
    )]
    DuplicateDomain {
        /// The domain, in its canonical form.
        domain: String,
        /// Position (0-based) of the first application declaring it.
        first: usize,
        /// Position (0-based) of the second application declaring it.
        second: usize,
    },
    /// An IP address or CIDR range (an `ip` rule, an IP list item) that cannot be read.
    #[error("invalid IP address or range {input:?}: {reason}")]
    InvalidIpRange {
        /// The input, shortened.
        input: String,
        /// What is wrong with it and what would be valid.
        reason: String,
    },
    /// A rule group that cannot be used as written.
    #[error("rule group {group:?}: {reason}")]
    InvalidRuleGroup {
        /// The group's id.
        group: String,
        /// What is wrong with it and what would be valid.
        reason: String,
    },
    /// A list (of emails or IP ranges) that cannot be used as written.
    #[error("list {list:?}: {reason}")]
    InvalidList {
        /// The list's id.
        list: String,
        /// What is wrong with it and what would be valid.
        reason: String,
    },
    /// A Go-style duration string (`session_duration`) that cannot be read.
    #[error("invalid duration {input:?}: {reason}")]
    InvalidDuration {
        /// The input, shortened.
        input: String,
        /// What is wrong with it and what would be valid.
        reason: String,
    },
}

/// The error of [`crate::Policy::validate`]; an alias so that call sites read naturally while the
/// crate keeps a single error enum.
pub type PolicyError = CoreError;

/// The error of [`crate::parse_go_duration`]; an alias of [`CoreError`].
pub type DurationError = CoreError;

/// Longest excerpt of a rejected input that is copied into an error message.
const EXCERPT_CHARS: usize = 80;

/// Shortens an input for inclusion in an error message.
pub(crate) fn excerpt(input: &str) -> String {
    match input.char_indices().nth(EXCERPT_CHARS) {
        None => input.to_owned(),
        Some((cut, _)) => format!("{}…", &input[..cut]),
    }
}
