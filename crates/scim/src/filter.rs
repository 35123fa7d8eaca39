//! SCIM filters (RFC 7644 §3.4.2.2) and attribute paths (§3.5.2): parsing, printing and
//! evaluation against a resource's JSON.
//!
//! The parser is hand-written, bounded in input length and nesting depth, and reports every
//! problem as a 400 `invalidFilter` (or `invalidPath` for PATCH paths) naming the byte offset.
//! Beyond the RFC grammar it accepts a comparison on a value path's sub-attribute,
//! `emails[type eq "work"].value eq "x"`, because Entra ID sends exactly that.

use std::fmt;
use std::str::FromStr;

use serde_json::{Number, Value};

use crate::ScimError;
use crate::datetime::Timestamp;
use crate::schema::{AttributeDef, AttributeType, GROUP_SCHEMA, ResourceSchema, USER_SCHEMA};

/// Longest filter accepted by [`Filter::parse`], in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value filters.
pub const MAX_FILTER_DEPTH: usize = 32;

/// An attribute reference: `[urn:]name[\[filter\]][.sub]`.
///
/// In a filter or a PATCH `path`, `emails[type eq "work"].value` is `name = "emails"`,
/// `filter = type eq "work"`, `sub = "value"`; `name.givenName` is `name = "name"`,
/// `sub = "givenName"`. Names keep the client's spelling; comparisons with schema names are
/// case-insensitive.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributePath {
    /// Schema URN prefix, such as the Enterprise User extension's.
    pub urn: Option<String>,
    /// Top-level attribute name.
    pub name: String,
    /// Value selection filter on a multi-valued attribute; its paths are relative to a value.
    pub filter: Option<Box<Filter>>,
    /// Sub-attribute name.
    pub sub: Option<String>,
}

impl AttributePath {
    /// A plain top-level attribute path.
    pub fn new(name: impl Into<String>) -> Self {
        AttributePath {
            urn: None,
            name: name.into(),
            filter: None,
            sub: None,
        }
    }

    /// This path with a sub-attribute.
    pub fn with_sub(mut self, sub: impl Into<String>) -> Self {
        self.sub = Some(sub.into());
        self
    }

    /// Parses a PATCH `path` (or `sortBy`, `attributes` entry); errors are 400 `invalidPath`.
    pub fn parse(input: &str) -> Result<Self, ScimError> {
        if input.len() > MAX_FILTER_LEN {
            return Err(ScimError::invalid_path(format!(
                "path longer than {MAX_FILTER_LEN} bytes"
            )));
        }
        let mut parser = Parser::new(input, Mode::Path);
        parser.skip_ws();
        let path = parser.path()?;
        parser.skip_ws();
        parser.expect_end()?;
        Ok(path)
    }

    /// Whether this path names `name` (case-insensitive) with no URN or the core URN of
    /// Users or Groups.
    pub(crate) fn is_core(&self, name: &str) -> bool {
        let core_urn = match &self.urn {
            None => true,
            Some(u) => u.eq_ignore_ascii_case(USER_SCHEMA) || u.eq_ignore_ascii_case(GROUP_SCHEMA),
        };
        core_urn && self.name.eq_ignore_ascii_case(name)
    }

    fn is_plain(&self, name: &str) -> bool {
        self.is_core(name) && self.filter.is_none() && self.sub.is_none()
    }
}

impl FromStr for AttributePath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, ScimError> {
        AttributePath::parse(s)
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal
    Ge,
    /// less than
    Lt,
    /// less than or equal
    Le,
}

impl CompareOp {
    fn from_keyword(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// A JSON string (escapes decoded).
    String(String),
    /// A JSON number.
    Number(Number),
    /// `true` / `false`.
    Bool(bool),
    /// `null`: `eq null` holds for an absent attribute, `ne null` for a present one.
    Null,
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::String(s) => f.write_str(&Value::String(s.clone()).to_string()),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`.
    Compare {
        /// Attribute compared.
        path: AttributePath,
        /// Operator.
        op: CompareOp,
        /// Literal.
        value: CompValue,
    },
    /// `path pr`: the attribute has a non-empty value.
    Present(AttributePath),
    /// `attr[filter]` on its own: some value of `attr` satisfies the filter. The path always
    /// has a `filter` and no `sub`.
    ValuePath(AttributePath),
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// Negation.
    Not(Box<Filter>),
}

/// An attribute a store is expected to index, as recognised by [`Filter::as_simple_eq`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexedAttribute {
    /// `id` (case-exact).
    Id,
    /// `externalId` (case-exact).
    ExternalId,
    /// `userName` (case-insensitive).
    UserName,
    /// `displayName` (case-insensitive; unique for groups).
    DisplayName,
    /// `emails.value` (case-insensitive); `kind` is the `type` required by
    /// `emails[type eq "<kind>"].value`, which the store must check too (or confirm
    /// candidates with [`Filter::matches`]).
    Email {
        /// Required `type` of the email value, if the filter named one.
        kind: Option<String>,
    },
}

impl IndexedAttribute {
    /// Whether the store must compare this attribute case-sensitively.
    pub fn case_exact(&self) -> bool {
        matches!(self, IndexedAttribute::Id | IndexedAttribute::ExternalId)
    }
}

impl Filter {
    /// Parses a filter of at most [`MAX_FILTER_LEN`] bytes.
    pub fn parse(input: &str) -> Result<Self, ScimError> {
        Self::parse_with_max_len(input, MAX_FILTER_LEN)
    }

    /// Parses a filter of at most `max_len` bytes (see `Limits::max_filter_len`).
    pub fn parse_with_max_len(input: &str, max_len: usize) -> Result<Self, ScimError> {
        if input.len() > max_len {
            return Err(ScimError::invalid_filter(format!(
                "filter is {} bytes long; at most {max_len} are accepted",
                input.len()
            )));
        }
        let mut parser = Parser::new(input, Mode::Filter);
        parser.skip_ws();
        if parser.at_end() {
            return Err(ScimError::invalid_filter("the filter is empty"));
        }
        let filter = parser.or()?;
        parser.skip_ws();
        parser.expect_end()?;
        Ok(filter)
    }

    /// Whether `resource` (the JSON a GET would return) satisfies the filter. String
    /// comparisons follow each attribute's `caseExact`; a multi-valued attribute matches if
    /// any value does; a comparison on a complex multi-valued attribute without a
    /// sub-attribute compares its `value` sub-attribute.
    pub fn matches(&self, resource: &Value, schema: &ResourceSchema) -> bool {
        self.eval(resource, Scope::Resource(schema))
    }

    /// The filter as `attribute eq "value"` on an attribute a store indexes, or `None`.
    /// Recognised: `id`, `externalId`, `userName`, `displayName`, `emails.value` and
    /// `emails[type eq "<kind>"].value`, optionally URN-qualified with the core schema.
    pub fn as_simple_eq(&self) -> Option<(IndexedAttribute, &str)> {
        let Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(value),
        } = self
        else {
            return None;
        };
        let attribute = if path.is_plain("id") {
            IndexedAttribute::Id
        } else if path.is_plain("externalId") {
            IndexedAttribute::ExternalId
        } else if path.is_plain("userName") {
            IndexedAttribute::UserName
        } else if path.is_plain("displayName") {
            IndexedAttribute::DisplayName
        } else if path.is_core("emails")
            && path
                .sub
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("value"))
        {
            match path.filter.as_deref() {
                None => IndexedAttribute::Email { kind: None },
                Some(Filter::Compare {
                    path: inner,
                    op: CompareOp::Eq,
                    value: CompValue::String(kind),
                }) if inner.is_plain("type") => IndexedAttribute::Email {
                    kind: Some(kind.clone()),
                },
                Some(_) => return None,
            }
        } else {
            return None;
        };
        Some((attribute, value))
    }

    /// An indexed equality that every match must satisfy: [`Filter::as_simple_eq`] of the
    /// filter or of any operand of a top-level `and` chain. A store can fetch candidates by it
    /// and confirm each with [`Filter::matches`] instead of scanning.
    pub fn index_hint(&self) -> Option<(IndexedAttribute, &str)> {
        match self {
            Filter::And(l, r) => l.index_hint().or_else(|| r.index_hint()),
            other => other.as_simple_eq(),
        }
    }

    /// Evaluates against one value of a multi-valued attribute, whose definition is `parent`.
    pub(crate) fn matches_value(
        &self,
        value: &Value,
        parent: Option<&'static AttributeDef>,
    ) -> bool {
        self.eval(value, Scope::Value(parent))
    }

    fn eval(&self, node: &Value, scope: Scope<'_>) -> bool {
        match self {
            Filter::And(l, r) => l.eval(node, scope) && r.eval(node, scope),
            Filter::Or(l, r) => l.eval(node, scope) || r.eval(node, scope),
            Filter::Not(f) => !f.eval(node, scope),
            Filter::Present(path) => {
                let (values, _) = collect(node, path, scope);
                values.into_iter().any(is_present)
            }
            Filter::ValuePath(path) => !collect(node, path, scope).0.is_empty(),
            Filter::Compare { path, op, value } => {
                let (values, def) = collect(node, path, scope);
                match (op, value) {
                    (CompareOp::Eq, CompValue::Null) => !values.into_iter().any(is_present),
                    (CompareOp::Ne, CompValue::Null) => values.into_iter().any(is_present),
                    (CompareOp::Ne, _) if values.is_empty() => true,
                    _ => values.into_iter().any(|v| compare(v, *op, value, def)),
                }
            }
        }
    }
}

impl FromStr for Filter {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, ScimError> {
        Filter::parse(s)
    }
}

impl fmt::Display for Filter {
    /// Prints a filter that parses back to the same tree: binary operators are always
    /// parenthesised, strings are JSON-escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::ValuePath(path) => write!(f, "{path}"),
            Filter::And(l, r) => write!(f, "({l} and {r})"),
            Filter::Or(l, r) => write!(f, "({l} or {r})"),
            Filter::Not(inner) => write!(f, "not ({inner})"),
        }
    }
}

// ---- evaluation -------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Scope<'s> {
    /// Paths are top-level attributes of a resource of this type.
    Resource(&'s ResourceSchema),
    /// Paths are sub-attributes of one value of an attribute with this definition.
    Value(Option<&'static AttributeDef>),
}

/// Case-insensitive member lookup (exact spelling first, as it is the common case).
pub(crate) fn get_ci<'v>(node: &'v Value, key: &str) -> Option<&'v Value> {
    let map = node.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn push_values<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|v| !v.is_null())),
        other => out.push(other),
    }
}

/// The values `path` selects in `resource`, and the definition they are compared by.
pub(crate) fn select<'v>(
    resource: &'v Value,
    path: &AttributePath,
    schema: &ResourceSchema,
) -> (Vec<&'v Value>, Option<&'static AttributeDef>) {
    collect(resource, path, Scope::Resource(schema))
}

/// The values a path selects in `node`, and the definition they are compared by.
fn collect<'v>(
    node: &'v Value,
    path: &AttributePath,
    scope: Scope<'_>,
) -> (Vec<&'v Value>, Option<&'static AttributeDef>) {
    let (top, mut def) = match scope {
        Scope::Resource(schema) => match schema.resolve_top(path.urn.as_deref(), &path.name) {
            Some(resolved) => {
                let container = match resolved.extension {
                    Some(urn) => get_ci(node, urn),
                    None => Some(node),
                };
                (container.and_then(|c| get_ci(c, &path.name)), resolved.def)
            }
            None => match &path.urn {
                Some(urn) => (get_ci(node, urn).and_then(|c| get_ci(c, &path.name)), None),
                None => (get_ci(node, &path.name), None),
            },
        },
        Scope::Value(parent) => (
            get_ci(node, &path.name),
            parent.and_then(|p| p.sub_attribute(&path.name)),
        ),
    };
    let mut values = Vec::new();
    if let Some(top) = top {
        push_values(top, &mut values);
    }
    if let Some(filter) = &path.filter {
        values.retain(|v| filter.eval(v, Scope::Value(def)));
    }
    if let Some(sub) = &path.sub {
        let mut subs = Vec::new();
        for v in values {
            if let Some(s) = get_ci(v, sub) {
                push_values(s, &mut subs);
            }
        }
        values = subs;
        def = def.and_then(|d| d.sub_attribute(sub));
    }
    (values, def)
}

/// Present and non-empty: not null, not "", not an empty array or object.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(map) => map.values().any(is_present),
        _ => true,
    }
}

fn compare(
    actual: &Value,
    op: CompareOp,
    expected: &CompValue,
    def: Option<&'static AttributeDef>,
) -> bool {
    // A complex value stands for its `value` sub-attribute (RFC 7644 §3.4.2.2).
    if let Value::Object(_) = actual {
        return match get_ci(actual, "value") {
            Some(inner) if !inner.is_object() => compare(
                inner,
                op,
                expected,
                def.and_then(|d| d.sub_attribute("value")),
            ),
            _ => false,
        };
    }
    match expected {
        CompValue::Null => false,
        CompValue::Bool(want) => {
            let have = match actual {
                Value::Bool(b) => Some(*b),
                Value::String(s) => parse_bool(s),
                _ => None,
            };
            match (have, op) {
                (Some(have), CompareOp::Eq) => have == *want,
                (Some(have), CompareOp::Ne) => have != *want,
                _ => false,
            }
        }
        CompValue::Number(want) => {
            let have = match actual {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match (have, want.as_f64()) {
                (Some(have), Some(want)) => order_matches(op, have.partial_cmp(&want)),
                _ => false,
            }
        }
        CompValue::String(want) => {
            let Value::String(have) = actual else {
                return match actual {
                    Value::Bool(b) => parse_bool(want).is_some_and(|w| match op {
                        CompareOp::Eq => w == *b,
                        CompareOp::Ne => w != *b,
                        _ => false,
                    }),
                    _ => false,
                };
            };
            if def.is_some_and(|d| d.kind == AttributeType::DateTime)
                && let (Some(h), Some(w)) = (
                    Timestamp::parse_rfc3339(have),
                    Timestamp::parse_rfc3339(want),
                )
            {
                return order_matches(op, Some(h.cmp(&w)));
            }
            let case_exact = def.is_some_and(|d| d.case_exact);
            let (have, want) = if case_exact {
                (have.clone(), want.clone())
            } else {
                (have.to_lowercase(), want.to_lowercase())
            };
            match op {
                CompareOp::Co => have.contains(&want),
                CompareOp::Sw => have.starts_with(&want),
                CompareOp::Ew => have.ends_with(&want),
                _ => order_matches(op, Some(have.cmp(&want))),
            }
        }
    }
}

fn order_matches(op: CompareOp, ordering: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    match (op, ordering) {
        (_, None) => false,
        (CompareOp::Eq, Some(o)) => o == Equal,
        (CompareOp::Ne, Some(o)) => o != Equal,
        (CompareOp::Gt, Some(o)) => o == Greater,
        (CompareOp::Ge, Some(o)) => o != Less,
        (CompareOp::Lt, Some(o)) => o == Less,
        (CompareOp::Le, Some(o)) => o != Greater,
        (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, _) => false,
    }
}

/// The booleans real clients send: JSON booleans' spellings in any case (Entra: `"False"`).
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

// ---- parsing ----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Filter,
    Path,
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    in_brackets: bool,
    mode: Mode,
}

fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-' | b'$')
}

fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some('$') => name == "$ref",
        Some(c) if c.is_ascii_alphabetic() => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        _ => false,
    }
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, mode: Mode) -> Self {
        Parser {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            depth: 0,
            in_brackets: false,
            mode,
        }
    }

    fn error(&self, what: impl fmt::Display) -> ScimError {
        let detail = format!("{what} at byte {}", self.pos);
        match self.mode {
            Mode::Filter => ScimError::invalid_filter(detail),
            Mode::Path => ScimError::invalid_path(detail),
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn describe_next(&self) -> String {
        match self.src.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => format!("unexpected {c:?}"),
            None => "unexpected end of filter".into(),
        }
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b == b' ' || b == b'\t' || b == b'\n' || b == b'\r')
        {
            self.pos += 1;
        }
        self.pos > start
    }

    fn expect_end(&self) -> Result<(), ScimError> {
        match self.peek() {
            None => Ok(()),
            Some(b')') => Err(self.error("unbalanced ')'")),
            Some(b']') => Err(self.error("unbalanced ']'")),
            Some(_) => Err(self.error(format!(
                "{}; expected 'and', 'or' or the end",
                self.describe_next()
            ))),
        }
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_FILTER_DEPTH} levels")));
        }
        Ok(())
    }

    /// Consumes `keyword` (case-insensitive) if it is the next whole word.
    fn keyword(&mut self, keyword: &str) -> bool {
        let end = self.pos + keyword.len();
        let matches = self
            .bytes
            .get(self.pos..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(keyword.as_bytes()))
            && !self.bytes.get(end).copied().is_some_and(is_path_char);
        if matches {
            self.pos = end;
        }
        matches
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("or") {
                let right = self.and()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("and") {
                let right = self.unary()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("missing operand: unexpected end of filter")),
            Some(b'(') => {
                self.pos += 1;
                self.grouped()
            }
            Some(_) => {
                let save = self.pos;
                if self.keyword("not") {
                    self.skip_ws();
                    if self.peek() == Some(b'(') {
                        self.pos += 1;
                        return Ok(Filter::Not(Box::new(self.grouped()?)));
                    }
                    // An attribute that happens to be called "not".
                    self.pos = save;
                }
                self.attribute_expression()
            }
        }
    }

    /// After an opening parenthesis: a nested filter and its closing parenthesis.
    fn grouped(&mut self) -> Result<Filter, ScimError> {
        self.enter()?;
        let inner = self.or()?;
        self.skip_ws();
        if self.peek() != Some(b')') {
            return Err(self.error(format!("{}; expected ')'", self.describe_next())));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(inner)
    }

    fn attribute_expression(&mut self) -> Result<Filter, ScimError> {
        let path = self.path()?;
        if path.filter.is_some() && path.sub.is_none() {
            return Ok(Filter::ValuePath(path));
        }
        if !self.skip_ws() {
            return Err(self.error(format!(
                "{}; expected an operator after '{path}'",
                self.describe_next()
            )));
        }
        let src = self.src;
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let word = &src[start..self.pos];
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            self.pos = start;
            return Err(if word.is_empty() {
                self.error(format!(
                    "{}; expected an operator after '{path}'",
                    self.describe_next()
                ))
            } else {
                self.error(format!("unknown operator '{word}'"))
            });
        };
        if !self.skip_ws() {
            return Err(self.error(format!(
                "{}; expected a space and a value after '{op}'",
                self.describe_next()
            )));
        }
        let value = self.value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn value(&mut self) -> Result<CompValue, ScimError> {
        let src = self.src;
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                let mut at = self.pos + 1;
                loop {
                    match self.bytes.get(at) {
                        None => return Err(self.error("unterminated string")),
                        Some(b'\\') => at += 2,
                        Some(b'"') => break,
                        Some(_) => at += 1,
                    }
                }
                let literal = &src[start..=at];
                let text: String = serde_json::from_str(literal)
                    .map_err(|e| self.error(format!("invalid string literal ({e})")))?;
                self.pos = at + 1;
                Ok(CompValue::String(text))
            }
            Some(b'-' | b'0'..=b'9') => {
                while self.peek().is_some_and(|b| {
                    b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.pos += 1;
                }
                let literal = &src[start..self.pos];
                // serde_json validates the JSON number grammar; the standard library's float
                // parser is correctly rounded, so printed numbers parse back to the same value.
                let number = serde_json::from_str::<Number>(literal).ok().and_then(|n| {
                    if literal.contains(['.', 'e', 'E']) {
                        literal.parse::<f64>().ok().and_then(Number::from_f64)
                    } else {
                        Some(n)
                    }
                });
                let Some(number) = number else {
                    self.pos = start;
                    return Err(self.error(format!("invalid number '{literal}'")));
                };
                Ok(CompValue::Number(number))
            }
            _ => {
                if self.keyword("true") {
                    Ok(CompValue::Bool(true))
                } else if self.keyword("false") {
                    Ok(CompValue::Bool(false))
                } else if self.keyword("null") {
                    Ok(CompValue::Null)
                } else {
                    Err(self.error(format!(
                        "{}; expected a value (a quoted string, number, true, false or null)",
                        self.describe_next()
                    )))
                }
            }
        }
    }

    fn name_run(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_path_char) {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn path(&mut self) -> Result<AttributePath, ScimError> {
        let start = self.pos;
        let run = self.name_run();
        if run.is_empty() {
            return Err(self.error(format!(
                "{}; expected an attribute name",
                self.describe_next()
            )));
        }
        let (urn, rest) = if run.len() > 4 && run[..4].eq_ignore_ascii_case("urn:") {
            match run.rfind(':') {
                Some(colon) if colon > 4 && colon + 1 < run.len() => {
                    (Some(run[..colon].to_string()), &run[colon + 1..])
                }
                _ => {
                    self.pos = start;
                    return Err(
                        self.error(format!("'{run}' is a schema URN without an attribute name"))
                    );
                }
            }
        } else {
            (None, run)
        };
        let mut parts = rest.split('.');
        let name = parts.next().unwrap_or_default();
        let sub = parts.next();
        let bad_name = |n: &str| !is_attr_name(n);
        if parts.next().is_some() || bad_name(name) || sub.is_some_and(bad_name) {
            self.pos = start;
            return Err(self.error(format!("'{run}' is not a valid attribute path")));
        }
        let mut path = AttributePath {
            urn,
            name: name.to_string(),
            filter: None,
            sub: sub.map(str::to_string),
        };
        if self.peek() == Some(b'[') {
            if self.in_brackets {
                return Err(self.error("value filters cannot be nested"));
            }
            if path.sub.is_some() {
                return Err(self.error("'[' must follow the attribute name, not a sub-attribute"));
            }
            self.pos += 1;
            self.enter()?;
            self.in_brackets = true;
            let inner = self.or()?;
            self.in_brackets = false;
            self.skip_ws();
            if self.peek() != Some(b']') {
                return Err(self.error(format!("{}; expected ']'", self.describe_next())));
            }
            self.pos += 1;
            self.depth -= 1;
            path.filter = Some(Box::new(inner));
            if self.peek() == Some(b'.') {
                self.pos += 1;
                let sub = self.name_run();
                if !is_attr_name(sub) {
                    return Err(self.error(format!("'{sub}' is not a valid sub-attribute name")));
                }
                path.sub = Some(sub.to_string());
            }
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests;
