//! List requests (RFC 7644 §3.4.2, §3.9): the query parameters of `GET /Users` and
//! `GET /Groups`, projection of the returned attributes, sorting, and the ListResponse.
//!
//! Paging follows the RFC's forgiving rules rather than refusing: a `startIndex` below 1 is
//! 1, a negative `count` is 0, and a `count` above the deployment's `max_results` is capped.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use crate::filter::{AttributePath, Filter, get_ci, select};
use crate::schema::{LIST_RESPONSE_SCHEMA, ResourceSchema, Returned, SEARCH_REQUEST_SCHEMA};
use crate::{Limits, ScimError};

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Smallest first (the default).
    #[default]
    Ascending,
    /// Largest first.
    Descending,
}

/// The parameters of a list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// `filter`, parsed.
    pub filter: Option<Filter>,
    /// 1-based index of the first result.
    pub start_index: usize,
    /// Page size, at most `Limits::max_results`.
    pub count: usize,
    /// `attributes`: return only these (plus those returned always).
    pub attributes: Vec<AttributePath>,
    /// `excludedAttributes`: leave these out (Entra: `members` on group reads).
    pub excluded_attributes: Vec<AttributePath>,
    /// `sortBy`.
    pub sort_by: Option<AttributePath>,
    /// `sortOrder`.
    pub sort_order: SortOrder,
}

impl ListQuery {
    /// Parses a raw query string (`filter=userName+eq+%22a%22&startIndex=1&count=2`); unknown
    /// parameters are ignored, parameter names are case-insensitive.
    pub fn parse(query_string: &str, limits: &Limits) -> Result<ListQuery, ScimError> {
        let mut query = ListQuery::unrestricted(limits);
        for pair in query_string
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key);
            let value = percent_decode(value);
            query.set(&key, &value, limits)?;
        }
        Ok(query)
    }

    /// Parses the body of `POST /Users/.search` or `POST /Groups/.search` (RFC 7644 §3.4.3), a
    /// SearchRequest carrying the same parameters as the query string of a `GET`: `filter`,
    /// `startIndex`, `count`, `attributes`, `excludedAttributes`, `sortBy`, `sortOrder`. Key
    /// names are case-insensitive; `attributes` may be a list of paths or one comma-separated
    /// string; numbers may be sent as strings. A missing `schemas` is tolerated (as in PATCH),
    /// a wrong one is refused, so that a misdirected resource body is not taken for a search.
    pub fn from_search_request(body: &Value, limits: &Limits) -> Result<ListQuery, ScimError> {
        let Value::Object(map) = body else {
            return Err(ScimError::invalid_syntax(
                "a SearchRequest must be a JSON object",
            ));
        };
        let mut query = ListQuery::unrestricted(limits);
        for (key, value) in map {
            if key.eq_ignore_ascii_case("schemas") {
                let names_search = match value {
                    Value::Array(urns) => urns.iter().any(|u| {
                        u.as_str()
                            .is_some_and(|u| u.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
                    }),
                    Value::String(urn) => urn.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA),
                    _ => false,
                };
                if !names_search {
                    return Err(ScimError::invalid_syntax(format!(
                        "a SearchRequest's schemas must be [\"{SEARCH_REQUEST_SCHEMA}\"]"
                    )));
                }
                continue;
            }
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => {
                    let mut joined = Vec::with_capacity(items.len());
                    for item in items {
                        match item.as_str() {
                            Some(path) => joined.push(path),
                            None => {
                                return Err(ScimError::invalid_value(format!(
                                    "{key} must list attribute paths as strings"
                                )));
                            }
                        }
                    }
                    joined.join(",")
                }
                Value::Bool(_) | Value::Object(_) => {
                    return Err(ScimError::invalid_value(format!(
                        "{key} has a value of the wrong type"
                    )));
                }
            };
            query.set(key, &text, limits)?;
        }
        Ok(query)
    }

    /// A query with no parameters: everything, first page of the largest size.
    fn unrestricted(limits: &Limits) -> ListQuery {
        ListQuery {
            filter: None,
            start_index: 1,
            count: limits.max_results,
            attributes: Vec::new(),
            excluded_attributes: Vec::new(),
            sort_by: None,
            sort_order: SortOrder::Ascending,
        }
    }

    /// Sets one parameter (name in any case; unknown names ignored) from its decoded text.
    fn set(&mut self, key: &str, value: &str, limits: &Limits) -> Result<(), ScimError> {
        match key.to_ascii_lowercase().as_str() {
            "filter" if value.trim().is_empty() => self.filter = None,
            "filter" => {
                self.filter = Some(Filter::parse_with_max_len(value, limits.max_filter_len)?)
            }
            "startindex" => self.start_index = parse_count(value, "startIndex")?.max(1) as usize,
            "count" => {
                let count = parse_count(value, "count")?.max(0) as usize;
                self.count = count.min(limits.max_results);
            }
            "attributes" => self.attributes = parse_paths(value)?,
            "excludedattributes" => self.excluded_attributes = parse_paths(value)?,
            "sortby" if value.trim().is_empty() => self.sort_by = None,
            "sortby" => self.sort_by = Some(AttributePath::parse(value.trim())?),
            "sortorder" => {
                self.sort_order = match value.trim() {
                    v if v.eq_ignore_ascii_case("ascending") || v.is_empty() => {
                        SortOrder::Ascending
                    }
                    v if v.eq_ignore_ascii_case("descending") => SortOrder::Descending,
                    other => {
                        return Err(ScimError::invalid_value(format!(
                            "sortOrder is \"{other}\"; expected ascending or descending"
                        )));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// 0-based offset of the first result (for SQL `OFFSET`).
    pub fn offset(&self) -> usize {
        self.start_index.saturating_sub(1)
    }

    /// Whether responses include the top-level attribute `name`, so a store can skip loading
    /// what will not be returned (`members` of a 100,000-member group).
    pub fn returns(&self, name: &str, schema: &ResourceSchema) -> bool {
        let top = |p: &AttributePath| p.name.eq_ignore_ascii_case(name) && p.sub.is_none();
        let always = schema
            .resolve_top(None, name)
            .and_then(|r| r.def)
            .is_some_and(|d| d.returned == Returned::Always);
        if always {
            return true;
        }
        if !self.attributes.is_empty()
            && !self
                .attributes
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(name))
        {
            return false;
        }
        !self.excluded_attributes.iter().any(top)
    }

    /// Applies `attributes`/`excludedAttributes` to one resource.
    pub fn project(&self, resource: &Value, schema: &ResourceSchema) -> Value {
        project(
            resource,
            &self.attributes,
            &self.excluded_attributes,
            schema,
        )
    }

    /// Sorts resources in memory by `sortBy` (no-op without it); multi-valued attributes sort
    /// by their primary (else first) value, missing values last.
    pub fn sort(&self, resources: &mut [Value], schema: &ResourceSchema) {
        let Some(path) = &self.sort_by else {
            return;
        };
        let (_, def) = resources
            .first()
            .map(|r| select(r, path, schema))
            .unwrap_or_default();
        let case_exact = def.is_some_and(|d| d.case_exact);
        // Missing values sort after present ones.
        resources.sort_by_cached_key(|r| {
            let key = sort_key(r, path, schema, case_exact);
            (key.is_none(), key)
        });
        if self.sort_order == SortOrder::Descending {
            // Keep missing values last in both directions.
            let present = resources
                .iter()
                .take_while(|r| sort_key(r, path, schema, case_exact).is_some())
                .count();
            resources[..present].reverse();
        }
    }

    /// Filters, sorts, pages and projects an in-memory collection into a ListResponse (for
    /// small stores and tests; a database store does the same with its indexes).
    pub fn respond(&self, mut resources: Vec<Value>, schema: &ResourceSchema) -> Value {
        if let Some(filter) = &self.filter {
            resources.retain(|r| filter.matches(r, schema));
        }
        self.sort(&mut resources, schema);
        let total = resources.len();
        let page: Vec<Value> = resources
            .iter()
            .skip(self.offset())
            .take(self.count)
            .map(|r| self.project(r, schema))
            .collect();
        let items = page.len();
        list_response(page, total, self.start_index, items)
    }
}

/// A sortable scalar; values of different types order by type (booleans, numbers, text).
#[derive(Debug, Clone)]
enum SortKey {
    Bool(bool),
    Number(f64),
    Text(String),
}

impl SortKey {
    fn rank(&self) -> u8 {
        match self {
            SortKey::Bool(_) => 0,
            SortKey::Number(_) => 1,
            SortKey::Text(_) => 2,
        }
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortKey::Bool(a), SortKey::Bool(b)) => a.cmp(b),
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SortKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SortKey {}

/// The value a resource sorts by; `None` if it has none.
fn sort_key(
    resource: &Value,
    path: &AttributePath,
    schema: &ResourceSchema,
    case_exact: bool,
) -> Option<SortKey> {
    let (values, _) = select(resource, path, schema);
    let chosen = values
        .iter()
        .find(|v| v.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| values.first())
        .copied()?;
    let scalar = match chosen {
        Value::Object(_) => get_ci(chosen, "value")?,
        other => other,
    };
    match scalar {
        Value::Bool(b) => Some(SortKey::Bool(*b)),
        Value::Number(n) => n.as_f64().map(SortKey::Number),
        Value::String(s) if case_exact => Some(SortKey::Text(s.clone())),
        Value::String(s) => Some(SortKey::Text(s.to_lowercase())),
        _ => None,
    }
}

fn parse_count(value: &str, name: &str) -> Result<i64, ScimError> {
    let value = value.trim();
    match value.parse::<i64>() {
        Ok(n) => Ok(n),
        // Out of range but numeric: saturate rather than refuse.
        Err(_)
            if value
                .strip_prefix('-')
                .unwrap_or(value)
                .bytes()
                .all(|b| b.is_ascii_digit())
                && !value.is_empty() =>
        {
            Ok(if value.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            })
        }
        Err(_) => Err(ScimError::invalid_value(format!(
            "{name} must be an integer, not \"{value}\""
        ))),
    }
}

fn parse_paths(list: &str) -> Result<Vec<AttributePath>, ScimError> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(AttributePath::parse)
        .collect()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; malformed
/// escapes are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Applies `attributes` and `excludedAttributes` (RFC 7644 §3.9) to one resource: with
/// `attributes`, only those (sub-attributes and URN-qualified names included) plus the
/// attributes returned always (`id`, `schemas`); then `excluded` are removed unless returned
/// always. A whole extension can be named by its URN.
pub fn project(
    resource: &Value,
    attributes: &[AttributePath],
    excluded: &[AttributePath],
    schema: &ResourceSchema,
) -> Value {
    let Some(source) = resource.as_object() else {
        return resource.clone();
    };
    let mut out = if attributes.is_empty() {
        source.clone()
    } else {
        let mut out = Map::new();
        for (key, value) in source {
            if key.eq_ignore_ascii_case("schemas") || is_always(schema, key) {
                out.insert(key.clone(), value.clone());
            }
        }
        for path in attributes {
            include(&mut out, source, path, schema);
        }
        out
    };
    for path in excluded {
        exclude(&mut out, path, schema);
    }
    Value::Object(out)
}

fn is_always(schema: &ResourceSchema, key: &str) -> bool {
    schema
        .resolve_top(None, key)
        .and_then(|r| r.def)
        .is_some_and(|d| d.returned == Returned::Always)
}

/// The extension a path names as a whole (`urn:…:enterprise:2.0:User` parses as URN
/// `urn:…:2.0` and name `User`).
fn whole_extension(path: &AttributePath, schema: &ResourceSchema) -> Option<&'static str> {
    let urn = path.urn.as_ref()?;
    if path.sub.is_some() || path.filter.is_some() {
        return None;
    }
    schema
        .extension(&format!("{urn}:{}", path.name))
        .map(|e| e.id)
}

/// The key a resource uses for an attribute (case-insensitive match), with its container URN.
fn locate<'s>(
    source: &'s Map<String, Value>,
    path: &AttributePath,
    schema: &ResourceSchema,
) -> Option<(Option<&'static str>, &'s String, &'s Value)> {
    let extension = match schema.resolve_top(path.urn.as_deref(), &path.name) {
        Some(resolved) => resolved.extension,
        None if path.urn.is_none() => None,
        None => return None,
    };
    let container = match extension {
        Some(urn) => source
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(urn))?
            .1
            .as_object()?,
        None => source,
    };
    let (key, value) = container
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&path.name))?;
    Some((extension, key, value))
}

fn include(
    out: &mut Map<String, Value>,
    source: &Map<String, Value>,
    path: &AttributePath,
    schema: &ResourceSchema,
) {
    if let Some(urn) = whole_extension(path, schema) {
        if let Some(ext) = source.get(urn) {
            out.insert(urn.to_string(), ext.clone());
        }
        return;
    }
    let Some((extension, key, value)) = locate(source, path, schema) else {
        return;
    };
    let projected = match &path.sub {
        None => value.clone(),
        Some(sub) => {
            let pick = |v: &Value| {
                let (k, inner) = v
                    .as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(sub))?;
                let mut m = Map::new();
                m.insert(k.clone(), inner.clone());
                Some(m)
            };
            match value {
                Value::Array(items) => {
                    Value::Array(items.iter().filter_map(pick).map(Value::Object).collect())
                }
                single => match pick(single) {
                    Some(m) => Value::Object(m),
                    None => return,
                },
            }
        }
    };
    let container = match extension {
        Some(urn) => match out.entry(urn).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(map) => map,
            _ => return,
        },
        None => out,
    };
    match (container.get_mut(key), projected) {
        (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
        (Some(Value::Array(existing)), Value::Array(more)) => {
            for (slot, item) in existing.iter_mut().zip(more) {
                if let (Value::Object(e), Value::Object(m)) = (slot, item) {
                    e.extend(m);
                }
            }
        }
        (_, projected) => {
            container.insert(key.clone(), projected);
        }
    }
}

fn exclude(out: &mut Map<String, Value>, path: &AttributePath, schema: &ResourceSchema) {
    if let Some(urn) = whole_extension(path, schema) {
        out.remove(urn);
        return;
    }
    if path.urn.is_none() && path.sub.is_none() && is_always(schema, &path.name) {
        return;
    }
    let Some((extension, key, _)) = locate(out, path, schema) else {
        return;
    };
    let key = key.clone();
    let container = match extension {
        Some(urn) => match out.get_mut(urn) {
            Some(Value::Object(map)) => map,
            _ => return,
        },
        None => &mut *out,
    };
    match &path.sub {
        None => {
            container.remove(&key);
        }
        Some(sub) => {
            let strip = |v: &mut Value| {
                if let Value::Object(map) = v {
                    map.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                }
            };
            match container.get_mut(&key) {
                Some(Value::Array(items)) => items.iter_mut().for_each(strip),
                Some(single) => strip(single),
                None => {}
            }
        }
    }
    if let Some(urn) = extension
        && out
            .get(urn)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        out.remove(urn);
    }
}

/// A ListResponse (RFC 7644 §3.4.2) around one page of already projected resources. A
/// filter that matches nothing is `list_response(vec![], 0, start, 0)`: 200, not 404.
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

#[cfg(test)]
mod tests;
