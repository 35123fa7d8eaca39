//! PATCH (RFC 7644 §3.5.2): parsing the PatchOp message as real clients send it, applying it
//! to a User, and turning a Group PATCH into a membership delta.
//!
//! Users are small, so a PATCH is applied in memory and the whole user written back. Groups
//! may have 100,000 members, so a Group PATCH is never applied to a member list here: it is
//! planned into a [`GroupChange`] whose [`MembersChange`] steps a store executes in request
//! order inside one transaction (and serialised per group, so concurrent PATCHes cannot lose
//! members).

use serde_json::{Map, Value};

use crate::filter::{AttributePath, CompValue, CompareOp, Filter, get_ci};
use crate::resource::{Member, User, UserData, coerce};
use crate::schema::{AttributeDef, AttributeType, Mutability, ResourceSchema};
use crate::{Limits, ScimError};

/// A PATCH operation kind; clients capitalise it freely (`"Replace"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    /// Add values (merge into complex and multi-valued attributes).
    Add,
    /// Replace values.
    Replace,
    /// Remove values.
    Remove,
}

/// One operation of a PatchOp message.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// The operation.
    pub op: PatchOp,
    /// Target; `None` means the value is an object of attribute paths to values.
    pub path: Option<AttributePath>,
    /// The value (`None` if absent or null).
    pub value: Option<Value>,
}

/// A parsed PatchOp message.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    /// Operations in request order.
    pub operations: Vec<PatchOperation>,
}

impl PatchRequest {
    /// Parses a PATCH body. Tolerated: missing `schemas`; `Operations`, `op`, `path`, `value`
    /// keys in any case; `op` values in any case; a single operation object instead of a list;
    /// an empty `path` meaning none.
    pub fn parse(body: &Value) -> Result<PatchRequest, ScimError> {
        if !body.is_object() {
            return Err(ScimError::invalid_syntax(
                "a PATCH body must be a JSON object",
            ));
        }
        let operations = match get_ci(body, "Operations") {
            Some(Value::Array(items)) => items.as_slice(),
            Some(single @ Value::Object(_)) => std::slice::from_ref(single),
            Some(_) => return Err(ScimError::invalid_syntax("\"Operations\" must be a list")),
            None => {
                return Err(ScimError::invalid_syntax(
                    "the PATCH body has no \"Operations\"",
                ));
            }
        };
        if operations.is_empty() {
            return Err(ScimError::invalid_value("\"Operations\" is empty"));
        }
        let operations = operations
            .iter()
            .enumerate()
            .map(|(i, op)| parse_operation(i, op))
            .collect::<Result<_, _>>()?;
        Ok(PatchRequest { operations })
    }
}

fn parse_operation(index: usize, op: &Value) -> Result<PatchOperation, ScimError> {
    if !op.is_object() {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{index}] must be an object"
        )));
    }
    let kind = match get_ci(op, "op").and_then(Value::as_str) {
        Some(word) if word.eq_ignore_ascii_case("add") => PatchOp::Add,
        Some(word) if word.eq_ignore_ascii_case("replace") => PatchOp::Replace,
        Some(word) if word.eq_ignore_ascii_case("remove") => PatchOp::Remove,
        Some(word) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}].op is \"{word}\"; expected add, replace or remove"
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}] has no \"op\""
            )));
        }
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(AttributePath::parse(p.trim())?),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{index}].path must be a string"
            )));
        }
    };
    let value = get_ci(op, "value").filter(|v| !v.is_null()).cloned();
    if path.is_none() && kind == PatchOp::Remove {
        return Err(ScimError::no_target(format!(
            "Operations[{index}]: remove needs a path"
        )));
    }
    if kind != PatchOp::Remove && value.is_none() {
        return Err(ScimError::invalid_value(
            format!("Operations[{index}]: {kind:?} needs a value").to_lowercase(),
        ));
    }
    Ok(PatchOperation {
        op: kind,
        path,
        value,
    })
}

/// One `(path, value)` step of an operation: path-less operations become one step per key.
struct Step<'a> {
    path: AttributePath,
    value: Option<&'a Value>,
    /// Came from a path-less value object: read-only keys there are ignored, not refused.
    implicit: bool,
    /// The step removes this whole schema extension (`"path"` was the extension's URN).
    whole_extension: Option<&'static str>,
}

impl<'a> Step<'a> {
    fn new(path: AttributePath, value: Option<&'a Value>, implicit: bool) -> Self {
        Step {
            path,
            value,
            implicit,
            whole_extension: None,
        }
    }
}

/// The schema extension a path names as a whole (`urn:…:enterprise:2.0:User`), if it does.
/// The path parser reads such a URN as a URN-qualified attribute named after its last
/// segment, so the two are joined back before looking the extension up.
fn whole_extension(path: &AttributePath, schema: &ResourceSchema) -> Option<&'static str> {
    if path.filter.is_some() || path.sub.is_some() {
        return None;
    }
    let full = match &path.urn {
        Some(urn) => format!("{urn}:{}", path.name),
        None => path.name.clone(),
    };
    schema.extension(&full).map(|ext| ext.id)
}

/// The steps that set each attribute of an extension object (`{"department": "R&D"}`), as
/// if each had been addressed by its URN-qualified path: a complex value replaces the
/// attributes it names and leaves the others (RFC 7644 §3.5.2.1 and §3.5.2.3). Read-only
/// attributes in it are ignored, as in a path-less value: clients send back what they read.
fn extension_steps<'a>(urn: &'static str, inner: &'a Map<String, Value>) -> Vec<Step<'a>> {
    inner
        .iter()
        .map(|(name, value)| {
            let path = AttributePath {
                urn: Some(urn.to_string()),
                ..AttributePath::new(name.clone())
            };
            Step::new(path, Some(value), true)
        })
        .collect()
}

fn steps<'a>(op: &'a PatchOperation, schema: &ResourceSchema) -> Result<Vec<Step<'a>>, ScimError> {
    if let Some(path) = &op.path {
        if let Some(urn) = whole_extension(path, schema) {
            return match (op.op, &op.value) {
                (PatchOp::Remove, _) => Ok(vec![Step {
                    whole_extension: Some(urn),
                    ..Step::new(path.clone(), None, false)
                }]),
                (_, Some(Value::Object(inner))) => Ok(extension_steps(urn, inner)),
                _ => Err(ScimError::invalid_value(format!(
                    "{urn} must be set to an object of its attributes"
                ))),
            };
        }
        return Ok(vec![Step::new(path.clone(), op.value.as_ref(), false)]);
    }
    let Some(Value::Object(map)) = &op.value else {
        return Err(ScimError::invalid_value(
            "an operation without a path needs an object value",
        ));
    };
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        if let Some(ext) = schema.extension(key)
            && let Value::Object(inner) = value
        {
            out.extend(extension_steps(ext.id, inner));
            continue;
        }
        // Keys are attribute paths: plain, dotted (`name.givenName`) or URN-qualified. A key
        // that is no path at all names no attribute of ours and is dropped, like unknown
        // attributes in a POST.
        if let Ok(path) = AttributePath::parse(key) {
            out.push(Step::new(path, Some(value), true));
        }
    }
    Ok(out)
}

// ---- users ------------------------------------------------------------------------------

/// Applies a PATCH to a user (RFC 7644 §3.5.2) and returns the new user, with the same `id`
/// and `meta` (the caller bumps `meta` with [`crate::Meta::touched`] when it stores it).
///
/// Beyond the RFC, for real clients: string booleans are accepted; an `add`/`replace` through
/// a value filter that matches nothing creates the value when the filter is a conjunction of
/// `eq` tests (Entra's `emails[type eq "work"].value`); `remove` through a filter that matches
/// nothing is a no-op; operations on attributes this server does not define are ignored.
/// Refused: changing `id` or another read-only attribute (`mutability`), removing `userName`.
///
/// A schema extension can be addressed as a whole by its URN: `add`/`replace` with an object
/// sets the attributes it names (path-less values keyed by the URN do the same), `remove`
/// drops the extension. Removing `active` leaves it unassigned ([`UserData::active`] is then
/// `None`): it reads back absent and does not change whether the user may sign in.
pub fn apply_user_patch(user: &User, request: &PatchRequest) -> Result<User, ScimError> {
    let schema = ResourceSchema::user();
    let mut attributes = user.data.attributes().clone();
    for op in &request.operations {
        for step in steps(op, schema)? {
            apply_user_step(&mut attributes, schema, &user.id, op.op, &step)?;
        }
    }
    let data = UserData::from_attributes(attributes)?;
    Ok(User {
        id: user.id.clone(),
        meta: user.meta,
        data,
    })
}

fn apply_user_step(
    attributes: &mut Map<String, Value>,
    schema: &ResourceSchema,
    id: &str,
    op: PatchOp,
    step: &Step<'_>,
) -> Result<(), ScimError> {
    if let Some(urn) = step.whole_extension {
        attributes.retain(|key, _| !key.eq_ignore_ascii_case(urn));
        return Ok(());
    }
    let path = &step.path;
    let Some(resolved) = schema.resolve_top(path.urn.as_deref(), &path.name) else {
        return Ok(());
    };
    if let Some(def) = resolved.def {
        if def.name == "id" {
            let same = op != PatchOp::Remove && step.value.and_then(Value::as_str) == Some(id);
            return if same {
                Ok(())
            } else {
                Err(ScimError::mutability("id cannot be changed"))
            };
        }
        match def.mutability {
            Mutability::WriteOnly => return Ok(()),
            Mutability::ReadOnly if step.implicit => return Ok(()),
            Mutability::ReadOnly => {
                return Err(ScimError::mutability(format!("{} is read-only", def.name)));
            }
            _ => {}
        }
    }
    let container = match resolved.extension {
        Some(urn) => {
            let entry = attributes
                .entry(urn)
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry {
                Value::Object(map) => map,
                _ => return Ok(()),
            }
        }
        None => &mut *attributes,
    };
    let key = resolved
        .def
        .map_or(path.name.as_str(), |d| d.name)
        .to_string();
    let target = Target {
        key: &key,
        def: resolved.def,
        path,
    };
    match op {
        PatchOp::Remove => target.remove(container, step.value)?,
        PatchOp::Add | PatchOp::Replace => {
            let value = step
                .value
                .ok_or_else(|| ScimError::invalid_value(format!("{} needs a value", path)))?;
            target.set(container, op, value)?;
        }
    }
    if let Some(urn) = resolved.extension
        && attributes
            .get(urn)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        attributes.remove(urn);
    }
    Ok(())
}

/// The attribute a step addresses inside its container.
struct Target<'p> {
    key: &'p str,
    def: Option<&'static AttributeDef>,
    path: &'p AttributePath,
}

impl Target<'_> {
    fn name(&self) -> String {
        self.path.to_string()
    }

    fn sub_def(&self, sub: &str) -> Option<&'static AttributeDef> {
        self.def.and_then(|d| d.sub_attribute(sub))
    }

    fn coerce_with(
        &self,
        def: Option<&AttributeDef>,
        value: &Value,
    ) -> Result<Option<Value>, ScimError> {
        match def {
            Some(def) => coerce(def, value, &self.name()),
            None => Ok((!value.is_null()).then(|| value.clone())),
        }
    }

    fn is_multi(&self) -> bool {
        self.def.is_some_and(|d| d.multi_valued)
    }

    fn set(
        &self,
        container: &mut Map<String, Value>,
        op: PatchOp,
        value: &Value,
    ) -> Result<(), ScimError> {
        match (&self.path.filter, &self.path.sub) {
            (None, None) => self.set_whole(container, op, value),
            (None, Some(sub)) => self.set_sub_everywhere(container, sub, value),
            (Some(filter), sub) => self.set_filtered(container, op, filter, sub.as_deref(), value),
        }
    }

    fn set_whole(
        &self,
        container: &mut Map<String, Value>,
        op: PatchOp,
        value: &Value,
    ) -> Result<(), ScimError> {
        let Some(new) = self.coerce_with(self.def, value)? else {
            // Setting to null or an empty list unassigns (RFC 7644 §3.5.2.3).
            container.remove(self.key);
            return Ok(());
        };
        let existing = container.get_mut(self.key);
        match (existing, new) {
            (Some(Value::Array(items)), Value::Array(added)) if op == PatchOp::Add => {
                for value in added {
                    self.merge_value(items, value);
                }
            }
            (Some(Value::Array(items)), Value::Array(replacement)) => {
                items.clear();
                for value in replacement {
                    self.merge_value(items, value);
                }
            }
            // A complex single value: given sub-attributes replace, others stay (§3.5.2.3).
            (Some(Value::Object(current)), Value::Object(given))
                if self.def.is_some_and(|d| d.kind == AttributeType::Complex) =>
            {
                current.extend(given);
            }
            (_, new) => {
                if let Value::Array(items) = &new {
                    let mut deduped = Vec::with_capacity(items.len());
                    for value in items.clone() {
                        self.merge_value(&mut deduped, value);
                    }
                    container.insert(self.key.to_string(), Value::Array(deduped));
                } else {
                    container.insert(self.key.to_string(), new);
                }
            }
        }
        Ok(())
    }

    /// Adds one value to a multi-valued attribute: a value equal to an existing one (same
    /// `value` and `type`) updates it instead of duplicating it; a new primary demotes the
    /// others (RFC 7643 §2.4: at most one primary).
    fn merge_value(&self, items: &mut Vec<Value>, value: Value) {
        let case_exact = self.sub_def("value").is_some_and(|d| d.case_exact);
        let same = |a: &Value, b: &Value| match (get_ci(a, "value"), get_ci(b, "value")) {
            (Some(Value::String(x)), Some(Value::String(y))) => {
                let value_eq = if case_exact {
                    x == y
                } else {
                    x.to_lowercase() == y.to_lowercase()
                };
                let type_eq = match (
                    get_ci(a, "type").and_then(Value::as_str),
                    get_ci(b, "type").and_then(Value::as_str),
                ) {
                    (Some(t), Some(u)) => t.eq_ignore_ascii_case(u),
                    _ => true,
                };
                value_eq && type_eq
            }
            _ => a == b,
        };
        let primary = value.get("primary").and_then(Value::as_bool) == Some(true);
        let index = match items.iter().position(|existing| same(existing, &value)) {
            Some(i) => {
                if let (Value::Object(current), Value::Object(given)) = (&mut items[i], value) {
                    current.extend(given);
                }
                i
            }
            None => {
                items.push(value);
                items.len() - 1
            }
        };
        if primary {
            demote_other_primaries(items, index);
        }
    }

    /// `name.givenName` on a single complex attribute, or `emails.value` on every value of a
    /// multi-valued one (creating one value if there is none).
    fn set_sub_everywhere(
        &self,
        container: &mut Map<String, Value>,
        sub: &str,
        value: &Value,
    ) -> Result<(), ScimError> {
        let sub_def = self.sub_def(sub);
        if self.def.is_some() && sub_def.is_none() {
            return Ok(());
        }
        let sub_name = sub_def.map_or(sub, |d| d.name).to_string();
        let new = self.coerce_with(sub_def, value)?;
        let entry = container.entry(self.key.to_string()).or_insert_with(|| {
            if self.is_multi() {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            }
        });
        match entry {
            Value::Object(map) => set_or_remove(map, &sub_name, new),
            Value::Array(items) => {
                if items.is_empty() {
                    items.push(Value::Object(Map::new()));
                }
                for item in items.iter_mut() {
                    if let Value::Object(map) = item {
                        set_or_remove(map, &sub_name, new.clone());
                    }
                }
            }
            other => {
                let mut map = Map::new();
                set_or_remove(&mut map, &sub_name, new);
                *other = Value::Object(map);
            }
        }
        Ok(())
    }

    fn set_filtered(
        &self,
        container: &mut Map<String, Value>,
        op: PatchOp,
        filter: &Filter,
        sub: Option<&str>,
        value: &Value,
    ) -> Result<(), ScimError> {
        let sub_def = sub.and_then(|s| self.sub_def(s));
        if sub.is_some() && self.def.is_some() && sub_def.is_none() {
            return Ok(());
        }
        let new = match sub {
            Some(_) => self.coerce_with(sub_def, value)?,
            None => match self.def {
                Some(def) => coerce(
                    &AttributeDef {
                        multi_valued: false,
                        ..def.clone()
                    },
                    value,
                    &self.name(),
                )?,
                None => Some(value.clone()),
            },
        };
        let sub_name = sub.map(|s| sub_def.map_or(s, |d| d.name).to_string());
        let entry = container
            .entry(self.key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !entry.is_array() {
            let single = entry.take();
            *entry = Value::Array(if single.is_null() {
                Vec::new()
            } else {
                vec![single]
            });
        }
        let Value::Array(items) = entry else {
            return Ok(());
        };
        let mut matched = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if filter.matches_value(item, self.def) {
                matched.push(i);
            }
        }
        if matched.is_empty() {
            // Entra adds `emails[type eq "work"].value` to users without a work email.
            let Some(mut created) = element_from_filter(filter) else {
                return Err(ScimError::no_target(format!(
                    "no value matches {}",
                    self.name()
                )));
            };
            match (&sub_name, new) {
                (Some(sub), Some(v)) => {
                    created.insert(sub.clone(), v);
                }
                (None, Some(Value::Object(given))) => created.extend(given),
                (_, _) => return Ok(()),
            }
            items.push(Value::Object(created));
            matched.push(items.len() - 1);
        } else {
            for &i in &matched {
                match (&sub_name, &mut items[i]) {
                    (Some(sub), Value::Object(map)) => set_or_remove(map, sub, new.clone()),
                    (None, item) => match (&new, op, item) {
                        (Some(Value::Object(given)), PatchOp::Add, Value::Object(map)) => {
                            map.extend(given.clone())
                        }
                        (Some(v), _, item) => *item = v.clone(),
                        (None, _, item) => *item = Value::Null,
                    },
                    _ => {}
                }
            }
            items.retain(|v| !v.is_null());
        }
        if let Some(&last) = matched.last()
            && items
                .get(last)
                .and_then(|v| v.get("primary"))
                .and_then(Value::as_bool)
                == Some(true)
        {
            demote_other_primaries(items, last);
        }
        if items.is_empty() {
            container.remove(self.key);
        }
        Ok(())
    }

    fn remove(
        &self,
        container: &mut Map<String, Value>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let Some(current) = container.get_mut(self.key) else {
            return Ok(());
        };
        match (&self.path.filter, &self.path.sub) {
            (None, None) => match (value, current) {
                // `{"op":"remove","path":"emails","value":[{"value":"x"}]}`: only those values.
                (Some(listed), Value::Array(items)) if self.is_multi() => {
                    let listed: Vec<&Value> = match listed {
                        Value::Array(list) => list.iter().collect(),
                        single => vec![single],
                    };
                    let case_exact = self.sub_def("value").is_some_and(|d| d.case_exact);
                    items.retain(|item| {
                        !listed
                            .iter()
                            .any(|l| same_listed_value(item, l, case_exact))
                    });
                }
                _ => {
                    container.remove(self.key);
                }
            },
            (None, Some(sub)) => {
                let sub_name = self.sub_def(sub).map_or(sub.as_str(), |d| d.name);
                match current {
                    Value::Object(map) => {
                        remove_ci(map, sub_name);
                    }
                    Value::Array(items) => {
                        for item in items.iter_mut() {
                            if let Value::Object(map) = item {
                                remove_ci(map, sub_name);
                            }
                        }
                    }
                    _ => {}
                }
            }
            (Some(filter), sub) => {
                if let Value::Array(items) = current {
                    match sub {
                        None => items.retain(|item| !filter.matches_value(item, self.def)),
                        Some(sub) => {
                            let sub_name = self.sub_def(sub).map_or(sub.as_str(), |d| d.name);
                            for item in items.iter_mut() {
                                if filter.matches_value(item, self.def)
                                    && let Value::Object(map) = item
                                {
                                    remove_ci(map, sub_name);
                                }
                            }
                        }
                    }
                }
            }
        }
        let now_empty = match container.get(self.key) {
            Some(Value::Array(items)) => items
                .iter()
                .all(|i| i.as_object().is_some_and(Map::is_empty) || i.is_null()),
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if now_empty {
            container.remove(self.key);
        }
        Ok(())
    }
}

fn set_or_remove(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    remove_ci(map, key);
    if let Some(v) = value {
        map.insert(key.to_string(), v);
    }
}

fn remove_ci(map: &mut Map<String, Value>, key: &str) {
    map.retain(|k, _| !k.eq_ignore_ascii_case(key));
}

fn demote_other_primaries(items: &mut [Value], keep: usize) {
    for (i, item) in items.iter_mut().enumerate() {
        if i != keep
            && let Value::Object(map) = item
            && map.get("primary") == Some(&Value::Bool(true))
        {
            map.insert("primary".into(), Value::Bool(false));
        }
    }
}

fn same_listed_value(item: &Value, listed: &Value, case_exact: bool) -> bool {
    let text_eq = |a: &str, b: &str| {
        if case_exact {
            a == b
        } else {
            a.to_lowercase() == b.to_lowercase()
        }
    };
    let listed_value = match listed {
        Value::Object(_) => get_ci(listed, "value"),
        other => Some(other),
    };
    match (get_ci(item, "value"), listed_value) {
        (Some(Value::String(a)), Some(Value::String(b))) => text_eq(a, b),
        (Some(a), Some(b)) => a == b,
        _ => item == listed,
    }
}

/// The value a filter of `eq` tests joined by `and` describes, for creating it.
fn element_from_filter(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.urn.is_none() && path.filter.is_none() && path.sub.is_none() => {
            let json = match value {
                CompValue::String(s) => Value::String(s.clone()),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return None,
            };
            let mut map = Map::new();
            map.insert(path.name.clone(), json);
            Some(map)
        }
        Filter::And(l, r) => {
            let mut map = element_from_filter(l)?;
            map.extend(element_from_filter(r)?);
            Some(map)
        }
        _ => None,
    }
}

// ---- groups -----------------------------------------------------------------------------

/// One membership step, executed by the store in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembersChange {
    /// Add these members; adding an existing member changes nothing (JumpCloud repeats adds).
    Add(Vec<Member>),
    /// Remove these member ids (and only these); absent ids are ignored.
    Remove(Vec<String>),
    /// Remove every member (`remove` of `members` with neither value nor filter).
    RemoveAll,
    /// Replace the member list with exactly these (possibly none).
    ReplaceAll(Vec<Member>),
}

/// What a Group PATCH changes, as a store can execute it without reading the member list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChange {
    /// New `displayName` (the store checks uniqueness).
    pub display_name: Option<String>,
    /// `Some(Some(id))` sets `externalId`, `Some(None)` removes it.
    pub external_id: Option<Option<String>>,
    /// Membership steps in request order.
    pub members: Vec<MembersChange>,
}

impl GroupChange {
    /// Whether the PATCH changes nothing (the store may skip the write and the version bump).
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.external_id.is_none() && self.members.is_empty()
    }

    /// Whether membership changes (for "re-authenticate on group change" policies).
    pub fn changes_members(&self) -> bool {
        !self.members.is_empty()
    }

    fn member_values(&self) -> usize {
        self.members
            .iter()
            .map(|step| match step {
                MembersChange::Add(m) | MembersChange::ReplaceAll(m) => m.len(),
                MembersChange::Remove(ids) => ids.len(),
                MembersChange::RemoveAll => 0,
            })
            .sum()
    }
}

/// Plans a Group PATCH for the group `group_id` (RFC 7644 §3.5.2 semantics, the forms Entra
/// ID, Okta, JumpCloud, OneLogin and WSO2 send). Member removal by a list (`"path":"members",
/// "value":[{"value":"id"}]`) removes only the listed members; `members[value eq "id"]` (also
/// joined with `or`) removes those; `remove` of `members` alone removes all. At most
/// `limits.max_members_per_request` member values per request (413 beyond).
pub fn plan_group_patch(
    group_id: &str,
    request: &PatchRequest,
    limits: &Limits,
) -> Result<GroupChange, ScimError> {
    let schema = ResourceSchema::group();
    let mut change = GroupChange::default();
    for op in &request.operations {
        for step in steps(op, schema)? {
            plan_group_step(&mut change, group_id, op.op, &step)?;
        }
    }
    if change.member_values() > limits.max_members_per_request {
        return Err(ScimError::too_many_members(limits.max_members_per_request));
    }
    Ok(change)
}

fn plan_group_step(
    change: &mut GroupChange,
    group_id: &str,
    op: PatchOp,
    step: &Step<'_>,
) -> Result<(), ScimError> {
    let path = &step.path;
    let value = step.value.filter(|v| !v.is_null());
    if path.is_core("members") {
        if path.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "{path}: changing a member's sub-attribute is not supported; add or remove the member"
            )));
        }
        let members_step = match (op, &path.filter) {
            (PatchOp::Remove, Some(filter)) => MembersChange::Remove(member_ids_of_filter(filter)?),
            (_, Some(_)) => {
                return Err(ScimError::invalid_path(format!(
                    "{path}: only remove may use a filter on members; add or replace the member list instead"
                )));
            }
            (PatchOp::Add, None) => {
                MembersChange::Add(Member::list_from_json(value.unwrap_or(&Value::Null))?)
            }
            (PatchOp::Replace, None) => {
                MembersChange::ReplaceAll(Member::list_from_json(value.unwrap_or(&Value::Null))?)
            }
            (PatchOp::Remove, None) => match value {
                None => MembersChange::RemoveAll,
                Some(Value::Array(list)) if list.is_empty() => MembersChange::RemoveAll,
                Some(listed) => MembersChange::Remove(
                    Member::list_from_json(listed)?
                        .into_iter()
                        .map(|m| m.value)
                        .collect(),
                ),
            },
        };
        let no_op = matches!(&members_step, MembersChange::Add(m) if m.is_empty())
            || matches!(&members_step, MembersChange::Remove(ids) if ids.is_empty());
        if !no_op {
            change.members.push(members_step);
        }
        return Ok(());
    }
    if path.filter.is_some() || path.sub.is_some() {
        // displayName/externalId are simple attributes; nothing else is writable.
        return if path.is_core("displayName") || path.is_core("externalId") || path.is_core("id") {
            Err(ScimError::invalid_path(format!(
                "{path}: {} has no sub-attributes",
                path.name
            )))
        } else {
            Ok(())
        };
    }
    let text = |value: Option<&Value>| -> Result<Option<String>, ScimError> {
        match value {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(items)) if items.len() == 1 && items[0].is_string() => {
                Ok(items[0].as_str().map(str::to_string))
            }
            Some(_) => Err(ScimError::invalid_value(format!("{path} must be a string"))),
        }
    };
    if path.is_core("displayName") {
        match (op, text(value)?) {
            (PatchOp::Remove, _) | (_, None) => {
                return Err(ScimError::invalid_value("displayName is required"));
            }
            (_, Some(name)) if name.is_empty() => {
                return Err(ScimError::invalid_value("displayName is required"));
            }
            (_, Some(name)) => change.display_name = Some(name),
        }
    } else if path.is_core("externalId") {
        change.external_id = Some(match op {
            PatchOp::Remove => None,
            _ => text(value)?,
        });
    } else if path.is_core("id") {
        let same = op != PatchOp::Remove && value.and_then(Value::as_str) == Some(group_id);
        if !same {
            return Err(ScimError::mutability("id cannot be changed"));
        }
    } else if path.is_core("meta") && !step.implicit {
        return Err(ScimError::mutability("meta is read-only"));
    }
    Ok(())
}

/// The ids named by `value eq "id"` tests joined by `or`.
fn member_ids_of_filter(filter: &Filter) -> Result<Vec<String>, ScimError> {
    let unsupported = || {
        ScimError::invalid_filter(format!(
            "members[{filter}]: only filters of the form value eq \"<id>\" (joined by or) can select members"
        ))
    };
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(id),
        } if path.urn.is_none()
            && path.filter.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            Ok(vec![id.clone()])
        }
        Filter::Or(l, r) => {
            let mut ids = member_ids_of_filter(l).map_err(|_| unsupported())?;
            for id in member_ids_of_filter(r).map_err(|_| unsupported())? {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Ok(ids)
        }
        _ => Err(unsupported()),
    }
}

/// Applies membership steps to an in-memory member list, exactly as a store must: adds are
/// idempotent (an existing member keeps its place and data), removes of absent ids do nothing.
pub fn apply_group_change_to_members(members: &mut Vec<Member>, changes: &[MembersChange]) {
    for change in changes {
        match change {
            MembersChange::Add(added) => {
                for member in added {
                    if !members.iter().any(|m| m.value == member.value) {
                        members.push(member.clone());
                    }
                }
            }
            MembersChange::Remove(ids) => members.retain(|m| !ids.contains(&m.value)),
            MembersChange::RemoveAll => members.clear(),
            MembersChange::ReplaceAll(replacement) => members.clone_from(replacement),
        }
    }
}

impl crate::resource::GroupData {
    /// Applies a planned change in memory (for small stores and tests).
    pub fn apply_change(&mut self, change: &GroupChange) {
        if let Some(name) = &change.display_name {
            self.display_name.clone_from(name);
        }
        if let Some(external_id) = &change.external_id {
            self.external_id.clone_from(external_id);
        }
        apply_group_change_to_members(&mut self.members, &change.members);
    }
}

#[cfg(test)]
mod tests;
