//! The bounds a deployment puts on SCIM requests; advertised in `/ServiceProviderConfig` and
//! enforced by the parsers, so what the server says and what it does cannot drift apart.

/// Request bounds, chosen by the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest page a list request returns (`count` is capped at this; it is also the default).
    pub max_results: usize,
    /// Largest request body the HTTP adapter accepts, in bytes.
    pub max_payload_bytes: usize,
    /// Most member values one group request (PATCH) may add or remove.
    pub max_members_per_request: usize,
    /// Longest `filter` query parameter, in bytes.
    pub max_filter_len: usize,
}

impl Default for Limits {
    /// Defaults that every observed IdP stays within: Entra pages by 100 and batches member
    /// changes well below 1000; Okta's bodies are a few kilobytes.
    fn default() -> Self {
        Limits {
            max_results: 200,
            max_payload_bytes: 1024 * 1024,
            max_members_per_request: 1000,
            max_filter_len: crate::filter::MAX_FILTER_LEN,
        }
    }
}
