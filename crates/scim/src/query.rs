//! List requests: query parameters, projection of returned attributes, and the ListResponse.

use serde_json::{Value, json};

use crate::schema::LIST_RESPONSE_SCHEMA;

/// A ListResponse (RFC 7644 §3.4.2) around one page of already projected resources.
pub fn list_response(
    resources: Vec<Value>,
    total: usize,
    start_index: usize,
    items_per_page: usize,
) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": items_per_page,
        "Resources": resources,
    })
}
