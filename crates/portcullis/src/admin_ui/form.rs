//! What a page handler reads from a request: query parameters, form fields, the signed-in
//! administrator's chrome, and the gateway.

use std::sync::Arc;

use http::Method;

use super::page::Chrome;
use crate::gateway::Gateway;
use crate::proxy::RequestContext;

/// Percent-encodes a query parameter value.
pub(crate) fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Decoded query parameters.
#[derive(Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            query
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One admin UI request, as the page handlers see it.
pub(crate) struct Ask<'a> {
    pub gw: &'a Arc<Gateway>,
    pub ctx: &'a RequestContext,
    pub method: &'a Method,
    pub query: Query,
    /// The POSTed form (empty for GET); its CSRF token was already checked.
    pub form: Vec<(String, String)>,
    pub chrome: &'a Chrome<'a>,
}

impl Ask<'_> {
    pub fn is_post(&self) -> bool {
        self.method == Method::POST
    }

    /// A form field, trimmed (empty when absent).
    pub fn field(&self, name: &str) -> &str {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or_default()
    }

    /// Whether the form carries the confirmation every destructive action asks for.
    pub fn confirmed(&self) -> bool {
        self.field("confirm") == "yes"
    }

    /// The page number asked for (`page`, from 1).
    pub fn page_number(&self) -> usize {
        self.query
            .get("page")
            .and_then(|p| p.parse::<usize>().ok())
            .filter(|p| *p > 0)
            .unwrap_or(1)
    }
}
