//! User and Group resources: built from POST/PUT bodies, rendered for responses, and the
//! `meta`/ETag rules shared by both.
//!
//! Parsing is tolerant where real clients are sloppy and strict where it matters: unknown
//! attributes are dropped, read-only ones (`id`, `meta`, `groups`) ignored, booleans may be
//! strings, a single value may stand for a one-element list; but `userName`/`displayName` are
//! required, values of the wrong type are refused, and a password is never kept. Values are
//! stored verbatim (no trimming, no case folding), as Entra ID requires.

use serde_json::{Map, Value, json};

use crate::ScimError;
use crate::datetime::Timestamp;
use crate::filter::{AttributePath, get_ci, parse_bool};
use crate::schema::{
    AttributeDef, AttributeType, ENTERPRISE_USER_SCHEMA, Mutability, ResourceSchema,
};

/// Server-maintained metadata of a stored resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// When the resource was created.
    pub created: Timestamp,
    /// When it last changed.
    pub last_modified: Timestamp,
    /// Incremented on every change; the ETag is `W/"<version>"`.
    pub version: u64,
}

impl Meta {
    /// Metadata of a resource created at `now` (version 1).
    pub fn new(now: Timestamp) -> Self {
        Meta {
            created: now,
            last_modified: now,
            version: 1,
        }
    }

    /// Metadata after a change at `now`: next version, new `lastModified`.
    pub fn touched(&self, now: Timestamp) -> Self {
        Meta {
            created: self.created,
            last_modified: now,
            version: self.version.saturating_add(1),
        }
    }

    /// The weak ETag of this version, for the `ETag` header and `meta.version`.
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    fn to_json(self, resource_type: &str, location: String) -> Value {
        json!({
            "resourceType": resource_type,
            "created": self.created.to_string(),
            "lastModified": self.last_modified.to_string(),
            "location": location,
            "version": self.etag(),
        })
    }
}

/// The weak ETag `W/"<version>"`.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` header value admits `version`: `*`, or a comma-separated list of
/// entity tags one of which names it. Weak and strong spellings of the same tag both match
/// (SCIM ETags are weak, and clients echo them in either form); unquoted tags are tolerated.
pub fn etag_matches(if_match: &str, version: u64) -> bool {
    let wanted = version.to_string();
    if_match.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        let tag = tag
            .strip_prefix("W/")
            .or_else(|| tag.strip_prefix("w/"))
            .unwrap_or(tag);
        let tag = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(tag);
        tag == wanted
    })
}

// ---- users ------------------------------------------------------------------------------

/// The client-writable content of a User, canonicalised: attribute names in the schema's
/// spelling, values type-checked, extension attributes under their schema URN. It holds no
/// `id`, `meta`, `groups` or `password`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserData {
    attributes: Map<String, Value>,
}

/// A User body as parsed from a POST or PUT.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedUser {
    /// The content to store.
    pub data: UserData,
    /// The body carried a `password` (Okta sends one); it was discarded. Worth a log line.
    pub password_supplied: bool,
}

/// One entry of `emails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The address, verbatim.
    pub value: String,
    /// `type` (`work`, `home`, …).
    pub kind: Option<String>,
    /// Whether the client marked it primary.
    pub primary: bool,
}

/// The Enterprise User extension attributes Portcullis can put into identities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnterpriseUser {
    /// `employeeNumber`.
    pub employee_number: Option<String>,
    /// `costCenter`.
    pub cost_center: Option<String>,
    /// `organization`.
    pub organization: Option<String>,
    /// `division`.
    pub division: Option<String>,
    /// `department`.
    pub department: Option<String>,
    /// `manager.value`: the manager's SCIM id.
    pub manager_id: Option<String>,
}

impl UserData {
    /// Parses a POST/PUT body. A body without `active` makes an active user: RFC 7643 lets
    /// the server default it, and a provisioned user is active until the identity provider
    /// says otherwise.
    pub fn from_json(body: &Value) -> Result<ParsedUser, ScimError> {
        let mut parsed = UserData::parse(body)?;
        parsed
            .data
            .attributes
            .entry("active")
            .or_insert(Value::Bool(true));
        Ok(parsed)
    }

    /// Loads stored [`UserData::attributes`] back as they are: nothing is defaulted, so an
    /// `active` a PATCH removed stays unassigned.
    pub fn from_stored(attributes: &Value) -> Result<UserData, ScimError> {
        UserData::parse(attributes).map(|parsed| parsed.data)
    }

    fn parse(body: &Value) -> Result<ParsedUser, ScimError> {
        let body = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a User must be a JSON object"))?;
        let (attributes, password_supplied) = canonicalize(ResourceSchema::user(), body)?;
        match attributes.get("userName") {
            Some(Value::String(name)) if !name.is_empty() => {}
            _ => return Err(ScimError::invalid_value("userName is required")),
        }
        Ok(ParsedUser {
            data: UserData { attributes },
            password_supplied,
        })
    }

    /// The canonical attributes (no `id`, `meta` or `schemas`): what a store persists.
    pub fn attributes(&self) -> &Map<String, Value> {
        &self.attributes
    }

    fn string(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Value::as_str)
    }

    /// `userName`, verbatim; compare it case-insensitively.
    pub fn user_name(&self) -> &str {
        self.string("userName").unwrap_or_default()
    }

    /// `externalId` (case-exact).
    pub fn external_id(&self) -> Option<&str> {
        self.string("externalId")
    }

    /// `displayName`.
    pub fn display_name(&self) -> Option<&str> {
        self.string("displayName")
    }

    /// `active`: `Some(false)` means the identity provider deprovisioned the user; `None` that
    /// the attribute is unassigned (a PATCH removed it). An unassigned `active` neither
    /// activates nor deactivates anyone: the user's sign-in status stays what it last was.
    /// Deprovisioning clients set `active` to false; none removes it to deactivate, and
    /// reading a removal as "active" would let a stray remove undo a deprovisioning.
    pub fn active(&self) -> Option<bool> {
        self.attributes.get("active").and_then(Value::as_bool)
    }

    /// `name.givenName`.
    pub fn given_name(&self) -> Option<&str> {
        self.attributes
            .get("name")
            .and_then(|n| n.get("givenName"))
            .and_then(Value::as_str)
    }

    /// `name.familyName`.
    pub fn family_name(&self) -> Option<&str> {
        self.attributes
            .get("name")
            .and_then(|n| n.get("familyName"))
            .and_then(Value::as_str)
    }

    /// All `emails` entries that have a value, in the client's order.
    pub fn emails(&self) -> Vec<Email> {
        let Some(Value::Array(items)) = self.attributes.get("emails") else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                Some(Email {
                    value: item.get("value")?.as_str()?.to_string(),
                    kind: item.get("type").and_then(Value::as_str).map(str::to_string),
                    primary: item
                        .get("primary")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
            })
            .collect()
    }

    /// The address to identify the user by: the primary email, else the first `work` email,
    /// else the first email, else `userName` if it looks like an address.
    pub fn primary_email(&self) -> Option<String> {
        let emails = self.emails();
        let chosen = emails
            .iter()
            .find(|e| e.primary)
            .or_else(|| {
                emails.iter().find(|e| {
                    e.kind
                        .as_deref()
                        .is_some_and(|k| k.eq_ignore_ascii_case("work"))
                })
            })
            .or_else(|| emails.first());
        match chosen {
            Some(email) => Some(email.value.clone()),
            None => {
                let name = self.user_name();
                let looks_like_email = name.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && !domain.is_empty() && !domain.contains('@')
                });
                looks_like_email.then(|| name.to_string())
            }
        }
    }

    /// The Enterprise User extension attributes (all `None` if the extension is absent).
    pub fn enterprise(&self) -> EnterpriseUser {
        let Some(ext) = self.attributes.get(ENTERPRISE_USER_SCHEMA) else {
            return EnterpriseUser::default();
        };
        let text = |name: &str| ext.get(name).and_then(Value::as_str).map(str::to_string);
        EnterpriseUser {
            employee_number: text("employeeNumber"),
            cost_center: text("costCenter"),
            organization: text("organization"),
            division: text("division"),
            department: text("department"),
            manager_id: ext
                .get("manager")
                .and_then(|m| m.get("value"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    pub(crate) fn from_attributes(attributes: Map<String, Value>) -> Result<UserData, ScimError> {
        UserData::from_stored(&Value::Object(attributes))
    }
}

/// A stored User: server-assigned `id` and `meta` around the client's content.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Server-assigned identifier (case-exact).
    pub id: String,
    /// Server-maintained metadata.
    pub meta: Meta,
    /// The client's content.
    pub data: UserData,
}

impl User {
    /// The full SCIM representation; `location_base` is the SCIM base URL
    /// (`https://<team>/scim/<idp>/v2`), used for `meta.location`.
    pub fn to_json(&self, location_base: &str) -> Value {
        let mut out = self.data.attributes.clone();
        let extensions: Vec<&str> = out
            .keys()
            .filter(|k| k.starts_with("urn:"))
            .map(String::as_str)
            .collect();
        let schemas = ResourceSchema::user().schema_urns(&extensions);
        out.insert("schemas".into(), Value::Array(schemas));
        out.insert("id".into(), Value::String(self.id.clone()));
        let location = format!("{}/Users/{}", location_base.trim_end_matches('/'), self.id);
        out.insert("meta".into(), self.meta.to_json("User", location));
        Value::Object(out)
    }
}

// ---- groups -----------------------------------------------------------------------------

/// One group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's SCIM id (case-exact). It may name a user not provisioned yet.
    pub value: String,
    /// Display name the client sent along.
    pub display: Option<String>,
    /// `type`: `User` or `Group`; Okta omits it (then it is a user).
    pub kind: Option<String>,
}

impl Member {
    /// A member known only by id.
    pub fn new(value: impl Into<String>) -> Self {
        Member {
            value: value.into(),
            display: None,
            kind: None,
        }
    }

    fn to_json(&self, base: &str) -> Value {
        let mut out = Map::new();
        out.insert("value".into(), Value::String(self.value.clone()));
        let endpoint = match self.kind.as_deref() {
            Some(kind) if kind.eq_ignore_ascii_case("group") => "Groups",
            _ => "Users",
        };
        out.insert(
            "$ref".into(),
            Value::String(format!("{base}/{endpoint}/{}", self.value)),
        );
        if let Some(display) = &self.display {
            out.insert("display".into(), Value::String(display.clone()));
        }
        if let Some(kind) = &self.kind {
            out.insert("type".into(), Value::String(kind.clone()));
        }
        Value::Object(out)
    }

    /// Members from a PATCH or POST value: a list (or one) of `{value, display, type}` objects;
    /// bare strings are taken as ids.
    pub(crate) fn list_from_json(value: &Value) -> Result<Vec<Member>, ScimError> {
        let items: &[Value] = match value {
            Value::Null => &[],
            Value::Array(items) => items,
            single => std::slice::from_ref(single),
        };
        let mut members: Vec<Member> = Vec::with_capacity(items.len());
        for item in items {
            let member = match item {
                Value::String(id) if !id.is_empty() => Member::new(id.clone()),
                Value::Object(_) => {
                    let text = |key: &str| match get_ci(item, key) {
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(Value::Number(n)) => Some(n.to_string()),
                        _ => None,
                    };
                    match text("value") {
                        Some(id) if !id.is_empty() => Member {
                            value: id,
                            display: text("display"),
                            kind: text("type"),
                        },
                        _ => {
                            return Err(ScimError::invalid_value(
                                "every member needs a non-empty \"value\"",
                            ));
                        }
                    }
                }
                _ => {
                    return Err(ScimError::invalid_value(
                        "members must be objects with a \"value\"",
                    ));
                }
            };
            if !members.iter().any(|m| m.value == member.value) {
                members.push(member);
            }
        }
        Ok(members)
    }
}

/// The client-writable content of a Group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupData {
    /// `displayName` (required; unique per identity provider, which the store enforces).
    pub display_name: String,
    /// `externalId` (case-exact).
    pub external_id: Option<String>,
    /// Direct members, without duplicates, in the client's order.
    pub members: Vec<Member>,
}

impl GroupData {
    /// Parses a POST/PUT body (unknown attributes dropped, `id`/`meta` ignored).
    pub fn from_json(body: &Value) -> Result<GroupData, ScimError> {
        let body = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a Group must be a JSON object"))?;
        let (attributes, _) = canonicalize(ResourceSchema::group(), body)?;
        let display_name = match attributes.get("displayName") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err(ScimError::invalid_value("displayName is required")),
        };
        let external_id = attributes
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let members = match get_ci(&Value::Object(body.clone()), "members") {
            Some(value) => Member::list_from_json(value)?,
            None => Vec::new(),
        };
        Ok(GroupData {
            display_name,
            external_id,
            members,
        })
    }
}

/// A stored Group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Server-assigned identifier (case-exact).
    pub id: String,
    /// Server-maintained metadata.
    pub meta: Meta,
    /// The client's content. A store answering `excludedAttributes=members` may leave
    /// `members` empty instead of loading them: an empty list is not rendered.
    pub data: GroupData,
}

impl Group {
    /// The full SCIM representation (see [`User::to_json`] for `location_base`).
    pub fn to_json(&self, location_base: &str) -> Value {
        let base = location_base.trim_end_matches('/');
        let mut out = Map::new();
        out.insert(
            "schemas".into(),
            Value::Array(ResourceSchema::group().schema_urns(&[])),
        );
        out.insert("id".into(), Value::String(self.id.clone()));
        out.insert(
            "displayName".into(),
            Value::String(self.data.display_name.clone()),
        );
        if let Some(external_id) = &self.data.external_id {
            out.insert("externalId".into(), Value::String(external_id.clone()));
        }
        if !self.data.members.is_empty() {
            let members = self.data.members.iter().map(|m| m.to_json(base)).collect();
            out.insert("members".into(), Value::Array(members));
        }
        out.insert(
            "meta".into(),
            self.meta
                .to_json("Group", format!("{base}/Groups/{}", self.id)),
        );
        Value::Object(out)
    }
}

// ---- canonicalisation -------------------------------------------------------------------

/// Canonical attributes of a request body for `schema`, and whether a password was present.
fn canonicalize(
    schema: &ResourceSchema,
    body: &Map<String, Value>,
) -> Result<(Map<String, Value>, bool), ScimError> {
    let mut out = Map::new();
    let mut password = false;
    for (key, value) in body {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if key.eq_ignore_ascii_case("password") {
            password = true;
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            let Value::Object(inner) = value else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!(
                    "{} must be an object",
                    ext.id
                )));
            };
            for (name, value) in inner {
                let path = AttributePath {
                    urn: Some(ext.id.to_string()),
                    ..AttributePath::new(name.clone())
                };
                assign(&mut out, schema, &path, value)?;
            }
            continue;
        }
        // Plain names are the norm; dotted and URN-qualified keys are accepted as paths.
        let path = if key.contains(['.', ':']) {
            match AttributePath::parse(key) {
                Ok(path) if path.filter.is_none() => path,
                _ => continue,
            }
        } else {
            AttributePath::new(key.clone())
        };
        assign(&mut out, schema, &path, value)?;
    }
    Ok((out, password))
}

/// Sets the attribute `path` (no value filter) to `value` in canonical `out`, ignoring
/// unknown and read-only attributes.
fn assign(
    out: &mut Map<String, Value>,
    schema: &ResourceSchema,
    path: &AttributePath,
    value: &Value,
) -> Result<(), ScimError> {
    let Some(resolved) = schema.resolve_top(path.urn.as_deref(), &path.name) else {
        return Ok(());
    };
    if resolved.def.is_some_and(|d| {
        d.mutability == Mutability::ReadOnly || d.mutability == Mutability::WriteOnly
    }) {
        return Ok(());
    }
    let container = match resolved.extension {
        Some(urn) => match out.entry(urn).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(map) => map,
            _ => return Ok(()),
        },
        None => &mut *out,
    };
    let key = resolved
        .def
        .map_or(path.name.as_str(), |d| d.name)
        .to_string();
    match (&path.sub, resolved.def) {
        (None, Some(def)) => match coerce(def, value, &key)? {
            Some(v) => {
                container.insert(key, v);
            }
            None => {
                container.remove(&key);
            }
        },
        (None, None) => {
            if value.is_null() {
                container.remove(&key);
            } else {
                container.insert(key, value.clone());
            }
        }
        (Some(sub), Some(def)) if def.kind == AttributeType::Complex && !def.multi_valued => {
            let Some(sub_def) = def.sub_attribute(sub) else {
                return Ok(());
            };
            let coerced = coerce(sub_def, value, &format!("{key}.{}", sub_def.name))?;
            let entry = container
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = entry {
                match coerced {
                    Some(v) => map.insert(sub_def.name.to_string(), v),
                    None => map.remove(sub_def.name),
                };
                if map.is_empty() {
                    container.remove(&key);
                }
            }
        }
        // Sub-attributes of multi-valued or unknown attributes have no single place to go.
        _ => {}
    }
    if let Some(urn) = resolved.extension
        && out
            .get(urn)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        out.remove(urn);
    }
    Ok(())
}

/// A client value converted to `def`'s type, `None` for "unassigned" (null, empty).
pub(crate) fn coerce(
    def: &AttributeDef,
    value: &Value,
    name: &str,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let items: &[Value] = match value {
            Value::Array(items) => items,
            single => std::slice::from_ref(single),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(def, item, name)? {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    match value {
        Value::Array(items) if items.len() == 1 => coerce_single(def, &items[0], name),
        Value::Array(items) if items.is_empty() => Ok(None),
        Value::Array(_) => Err(ScimError::invalid_value(format!(
            "{name} takes a single value, not a list"
        ))),
        single => coerce_single(def, single, name),
    }
}

fn coerce_single(
    def: &AttributeDef,
    value: &Value,
    name: &str,
) -> Result<Option<Value>, ScimError> {
    let wrong = |expected: &str| ScimError::invalid_value(format!("{name} must be {expected}"));
    Ok(Some(match (def.kind, value) {
        (_, Value::Null) => return Ok(None),
        (AttributeType::Complex, Value::Object(map)) => {
            let mut out = Map::new();
            for (key, v) in map {
                let Some(sub) = def.sub_attribute(key) else {
                    continue;
                };
                if let Some(v) = coerce_single(sub, v, &format!("{name}.{}", sub.name))? {
                    out.insert(sub.name.to_string(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        // Entra sends `manager` as a bare id; a scalar stands for the `value` sub-attribute.
        (AttributeType::Complex, Value::String(_) | Value::Number(_))
            if def.sub_attribute("value").is_some() =>
        {
            let mut out = Map::new();
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert("value".into(), Value::String(text));
            Value::Object(out)
        }
        (AttributeType::Complex, _) => return Err(wrong("an object")),
        (AttributeType::Boolean, Value::Bool(b)) => Value::Bool(*b),
        (AttributeType::Boolean, Value::String(s)) => {
            Value::Bool(parse_bool(s).ok_or_else(|| wrong("true or false"))?)
        }
        (AttributeType::Boolean, _) => return Err(wrong("true or false")),
        (AttributeType::Integer | AttributeType::Decimal, Value::Number(n)) => {
            Value::Number(n.clone())
        }
        (AttributeType::Integer | AttributeType::Decimal, Value::String(s)) => {
            Value::Number(serde_json::from_str(s.trim()).map_err(|_| wrong("a number"))?)
        }
        (AttributeType::Integer | AttributeType::Decimal, _) => return Err(wrong("a number")),
        (_, Value::String(s)) => Value::String(s.clone()),
        // Some clients send numeric employee numbers and the like; keep their text.
        (_, Value::Number(n)) => Value::String(n.to_string()),
        (_, Value::Bool(b)) => Value::String(b.to_string()),
        (_, _) => return Err(wrong("a string")),
    }))
}

#[cfg(test)]
mod tests;
