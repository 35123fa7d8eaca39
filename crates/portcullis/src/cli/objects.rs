//! `portcullis idp|apps|policies|groups list|show|add|edit|delete` (and `idp test`): the access
//! objects of a running gateway, through its admin API.
//!
//! An object goes in as a file in the admin API's shape, which is also the shape of its entry in
//! the configuration file (`[[identity_providers]]`, `[[applications]]`, `[[policies]]`,
//! `[[rule_groups]]`): JSON or TOML, chosen by the file's extension, or JSON on standard input.
//! This module reads that file and sends it; checking the object's fields is the gateway's job,
//! and its error message (naming the field) is what the operator sees. Objects are named by id
//! or by name, as everywhere in the CLI. Deleting asks first unless `--yes` is given.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::format::{Table, fields, json as to_json};
use super::remote::Remote;
use super::remote_commands::list_apps;
use super::{CliError, Confirm, ObjectAction, ObjectFile, Output};

/// The kinds of object the admin API manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    LoginMethod,
    App,
    Policy,
    Group,
}

impl Kind {
    /// The collection under `…/access/`.
    pub fn path(self) -> &'static str {
        match self {
            Kind::LoginMethod => "identity_providers",
            Kind::App => "apps",
            Kind::Policy => "policies",
            Kind::Group => "groups",
        }
    }

    /// What people call one.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::LoginMethod => "login method",
            Kind::App => "application",
            Kind::Policy => "policy",
            Kind::Group => "rule group",
        }
    }

    /// The CLI group that manages them.
    pub fn command(self) -> &'static str {
        match self {
            Kind::LoginMethod => "idp",
            Kind::App => "apps",
            Kind::Policy => "policies",
            Kind::Group => "groups",
        }
    }

    /// The configuration file's array of them, which a file may wrap its one object in.
    fn config_section(self) -> &'static str {
        match self {
            Kind::LoginMethod => "identity_providers",
            Kind::App => "applications",
            Kind::Policy => "policies",
            Kind::Group => "rule_groups",
        }
    }
}

/// Why an object file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectFileError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "{path}: cannot tell the format; name the file *.json or *.toml, or give `-` for JSON on standard input"
    )]
    UnknownFormat { path: String },
    #[error("{path} is not valid JSON: {reason}")]
    Json { path: String, reason: String },
    #[error("{path} is not valid TOML: {reason}")]
    Toml { path: String, reason: String },
    #[error("{path} must hold one {noun} as a JSON object or TOML table, not {found}")]
    NotAnObject {
        path: String,
        noun: &'static str,
        found: &'static str,
    },
    #[error("{path} holds {count} entries under `{section}`; give one {noun} per file")]
    NotOne {
        path: String,
        count: usize,
        section: &'static str,
        noun: &'static str,
    },
}

/// How an object file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Toml,
}

impl FileFormat {
    /// The format of `path`: `-` (standard input) is JSON, otherwise the extension decides.
    pub fn of(path: &Path) -> Result<FileFormat, ObjectFileError> {
        if path == Path::new("-") {
            return Ok(FileFormat::Json);
        }
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("json") => Ok(FileFormat::Json),
            Some("toml") => Ok(FileFormat::Toml),
            _ => Err(ObjectFileError::UnknownFormat {
                path: path.display().to_string(),
            }),
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// TOML as JSON; TOML's dates and times (which no object field takes) become their text.
fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

/// The object in `text` (read from `path`, which only names it in messages). A file may also
/// hold the object as its configuration-file entry, e.g. one `[[applications]]` table; that
/// one entry is taken.
pub fn parse_object(
    kind: Kind,
    path: &str,
    format: FileFormat,
    text: &str,
) -> Result<Map<String, Value>, ObjectFileError> {
    let value = match format {
        FileFormat::Json => {
            serde_json::from_str::<Value>(text).map_err(|e| ObjectFileError::Json {
                path: path.to_owned(),
                reason: e.to_string(),
            })?
        }
        FileFormat::Toml => toml::from_str::<toml::Table>(text)
            .map(|t| toml_to_json(toml::Value::Table(t)))
            .map_err(|e| ObjectFileError::Toml {
                path: path.to_owned(),
                reason: e.message().to_owned(),
            })?,
    };
    let Value::Object(mut object) = value else {
        return Err(ObjectFileError::NotAnObject {
            path: path.to_owned(),
            noun: kind.noun(),
            found: type_name(&value),
        });
    };
    let section = kind.config_section();
    if object.len() == 1
        && let Some(Value::Array(entries)) = object.get_mut(section)
    {
        if entries.len() != 1 {
            return Err(ObjectFileError::NotOne {
                path: path.to_owned(),
                count: entries.len(),
                section,
                noun: kind.noun(),
            });
        }
        return match entries.pop() {
            Some(Value::Object(entry)) => Ok(entry),
            other => Err(ObjectFileError::NotAnObject {
                path: path.to_owned(),
                noun: kind.noun(),
                found: other.as_ref().map_or("nothing", type_name),
            }),
        };
    }
    Ok(object)
}

/// Reads the object a `--file` names (`-`: standard input).
async fn read_object(kind: Kind, file: &ObjectFile) -> Result<Map<String, Value>, CliError> {
    let path = file.file.clone();
    let format = FileFormat::of(&path)?;
    let shown = if path == Path::new("-") {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    let read_error = |reason: String| ObjectFileError::Read {
        path: shown.clone(),
        reason,
    };
    let text = if path == Path::new("-") {
        tokio::task::spawn_blocking(|| {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map(|_| text)
        })
        .await
        .map_err(|e| read_error(e.to_string()))?
        .map_err(|e| read_error(e.to_string()))?
    } else {
        tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| read_error(e.to_string()))?
    };
    Ok(parse_object(kind, &shown, format, &text)?)
}

fn text_field<'v>(object: &'v Value, field: &str) -> Option<&'v str> {
    object.get(field).and_then(Value::as_str)
}

/// The object's id as the API's paths take it.
fn id_of(kind: Kind, object: &Value) -> Result<String, CliError> {
    match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(super::remote::RemoteError::Unexpected(format!(
            "{}: a {} without an id",
            kind.path(),
            kind.noun()
        ))
        .into()),
    }
}

fn name_of(object: &Value) -> &str {
    text_field(object, "name").unwrap_or("(unnamed)")
}

/// The one object in `all` that `wanted` names: by id, by name, or (applications) by audience
/// tag; failing that, by name ignoring case.
pub fn pick(kind: Kind, all: &[Value], wanted: &str) -> Result<Value, CliError> {
    let wanted = wanted.trim();
    let exact: Vec<&Value> = all
        .iter()
        .filter(|o| {
            id_of(kind, o).is_ok_and(|id| id.eq_ignore_ascii_case(wanted))
                || text_field(o, "name") == Some(wanted)
                || (kind == Kind::App && text_field(o, "aud") == Some(wanted))
        })
        .collect();
    let found = if exact.is_empty() {
        all.iter()
            .filter(|o| text_field(o, "name").is_some_and(|n| n.eq_ignore_ascii_case(wanted)))
            .collect()
    } else {
        exact
    };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::UnknownObject {
            noun: kind.noun(),
            wanted: wanted.to_owned(),
            command: kind.command(),
        }),
        several => Err(CliError::AmbiguousObject {
            noun: kind.noun(),
            wanted: wanted.to_owned(),
            ids: several
                .iter()
                .filter_map(|o| id_of(kind, o).ok())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

async fn list(remote: &Remote, kind: Kind) -> Result<Vec<Value>, CliError> {
    match remote.get(&[kind.path()], &[]).await? {
        Value::Array(items) => Ok(items),
        other => Err(super::remote::RemoteError::Unexpected(format!(
            "{}: {} instead of a list",
            kind.path(),
            type_name(&other)
        ))
        .into()),
    }
}

/// The object `wanted` names, as the collection lists it.
pub async fn find(remote: &Remote, kind: Kind, wanted: &str) -> Result<Value, CliError> {
    pick(kind, &list(remote, kind).await?, wanted)
}

/// Runs one object command and returns what to print.
pub async fn run(
    remote: &Remote,
    kind: Kind,
    action: ObjectAction<'_>,
    output: Output,
) -> Result<String, CliError> {
    match action {
        ObjectAction::List => {
            if kind == Kind::App {
                // `apps list` prints the same in both modes.
                return list_apps(remote, output).await;
            }
            let all = list(remote, kind).await?;
            match output {
                Output::Json => to_json(&all),
                Output::Human => Ok(list_text(kind, &all)),
            }
        }
        ObjectAction::Show(wanted) => {
            let id = id_of(kind, &find(remote, kind, wanted).await?)?;
            let object = remote.get(&[kind.path(), &id], &[]).await?;
            match output {
                Output::Json => to_json(&object),
                Output::Human => {
                    let login_methods = if kind == Kind::App {
                        list(remote, Kind::LoginMethod).await?
                    } else {
                        Vec::new()
                    };
                    Ok(show_text(kind, &object, &login_methods))
                }
            }
        }
        ObjectAction::Add(file) => {
            let object = Value::Object(read_object(kind, file).await?);
            let added = remote
                .call(Method::POST, &[kind.path()], Some(&object))
                .await?;
            match output {
                Output::Json => to_json(&added),
                Output::Human => Ok(added_text(kind, &added)),
            }
        }
        ObjectAction::Edit(wanted, file) => {
            let object = Value::Object(read_object(kind, file).await?);
            let id = id_of(kind, &find(remote, kind, wanted).await?)?;
            let updated = remote
                .call(Method::PUT, &[kind.path(), &id], Some(&object))
                .await?;
            match output {
                Output::Json => to_json(&updated),
                Output::Human => Ok(format!(
                    "Updated {} `{}` ({id}).\n",
                    kind.noun(),
                    text_field(&updated, "name").unwrap_or_else(|| name_of(&object)),
                )),
            }
        }
        ObjectAction::Delete(wanted, confirm) => {
            let found = find(remote, kind, wanted).await?;
            let id = id_of(kind, &found)?;
            let question = format!(
                "Delete {} `{}` ({id})? [y/N] ",
                kind.noun(),
                name_of(&found)
            );
            if !confirmed(confirm, &question).await? {
                return Err(CliError::NotConfirmed);
            }
            let deleted = remote
                .call(Method::DELETE, &[kind.path(), &id], None)
                .await?;
            match output {
                Output::Json => to_json(&deleted),
                Output::Human => Ok(format!(
                    "Deleted {} `{}` ({id}).\n",
                    kind.noun(),
                    name_of(&found)
                )),
            }
        }
    }
}

/// Whether to ask before deleting: not with `--yes`; otherwise only on a terminal, and without
/// one the deletion is refused rather than done unasked.
pub fn must_ask(yes: bool, terminal: bool) -> Result<bool, CliError> {
    match (yes, terminal) {
        (true, _) => Ok(false),
        (false, true) => Ok(true),
        (false, false) => Err(CliError::NeedsYes),
    }
}

/// Whether an answer to a yes/no question is yes.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Asks `question` on the terminal (standard error, so that standard output stays the
/// answer), unless `--yes` was given.
async fn confirmed(confirm: &Confirm, question: &str) -> Result<bool, CliError> {
    if !must_ask(confirm.yes, std::io::stdin().is_terminal())? {
        return Ok(true);
    }
    let question = question.to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(question.as_bytes());
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| ObjectFileError::Read {
        path: "standard input".into(),
        reason: e.to_string(),
    })?
    .map_err(|e| ObjectFileError::Read {
        path: "standard input".into(),
        reason: e.to_string(),
    })?;
    Ok(is_yes(&answer))
}

/// `idp test <id|name>`: the URL that runs the login flow against the login method.
pub async fn test_login_method(
    remote: &Remote,
    wanted: &str,
    output: Output,
) -> Result<String, CliError> {
    let found = find(remote, Kind::LoginMethod, wanted).await?;
    let id = id_of(Kind::LoginMethod, &found)?;
    let answer = remote
        .call(Method::POST, &["identity_providers", &id, "test"], None)
        .await?;
    if output == Output::Json {
        return to_json(&answer);
    }
    let url = text_field(&answer, "url").ok_or_else(|| {
        super::remote::RemoteError::Unexpected("identity_providers/test: no url".into())
    })?;
    let minutes = answer
        .get("expires_in")
        .and_then(Value::as_u64)
        .map_or_else(String::new, |s| {
            format!(" within {} minutes", s.div_ceil(60))
        });
    Ok(format!(
        "Open this URL in a browser{minutes} to sign in with `{}` and see what it sends:\n\n  {url}\n",
        name_of(&found)
    ))
}

fn source(object: &Value) -> &'static str {
    if object.get("read_only").and_then(Value::as_bool) == Some(true) {
        "configuration file"
    } else {
        "admin API"
    }
}

fn yes_no(value: Option<&Value>) -> String {
    match value.and_then(Value::as_bool) {
        Some(true) => "yes".into(),
        _ => "no".into(),
    }
}

fn scim_enabled(object: &Value) -> bool {
    object["scim_config"]["enabled"].as_bool() == Some(true)
}

/// Each rule of a list as the explanations write it (`email_domain example.com`), or as compact
/// JSON when this version does not know the rule.
fn rules_text(rules: Option<&Value>) -> Option<String> {
    let rules = rules?.as_array().filter(|r| !r.is_empty())?;
    Some(
        rules
            .iter()
            .map(
                |rule| match serde_json::from_value::<portcullis_core::Rule>(rule.clone()) {
                    Ok(known) => known.to_string(),
                    Err(_) => rule.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn push_rules(pairs: &mut Vec<(&'static str, String)>, object: &Value) {
    for (label, field) in [
        ("Include", "include"),
        ("Exclude", "exclude"),
        ("Require", "require"),
    ] {
        if let Some(text) = rules_text(object.get(field)) {
            pairs.push((label, text));
        }
    }
}

fn list_text(kind: Kind, all: &[Value]) -> String {
    if all.is_empty() {
        return match kind {
            Kind::LoginMethod => "No login methods.\n".into(),
            Kind::App => "No applications.\n".into(),
            Kind::Policy => "No reusable policies.\n".into(),
            Kind::Group => "No rule groups.\n".into(),
        };
    }
    let mut sorted: Vec<&Value> = all.iter().collect();
    sorted.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    let cell = |o: &Value, f: &str| text_field(o, f).unwrap_or("-").to_owned();
    let id = |o: &Value| id_of(kind, o).unwrap_or_else(|_| "-".into());
    let table = match kind {
        Kind::LoginMethod => {
            let mut t = Table::new(&["NAME", "TYPE", "SCIM", "SOURCE", "ID"]);
            for o in sorted {
                t.row(vec![
                    name_of(o).to_owned(),
                    cell(o, "type"),
                    if scim_enabled(o) { "on" } else { "off" }.to_owned(),
                    source(o).to_owned(),
                    id(o),
                ]);
            }
            t
        }
        Kind::App => {
            let mut t = Table::new(&["NAME", "DOMAIN", "SOURCE", "ID"]);
            for o in sorted {
                t.row(vec![
                    name_of(o).to_owned(),
                    cell(o, "domain"),
                    source(o).to_owned(),
                    id(o),
                ]);
            }
            t
        }
        Kind::Policy => {
            let mut t = Table::new(&["NAME", "DECISION", "APPS", "SOURCE", "ID"]);
            for o in sorted {
                t.row(vec![
                    name_of(o).to_owned(),
                    cell(o, "decision"),
                    o.get("app_count")
                        .and_then(Value::as_u64)
                        .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                    source(o).to_owned(),
                    id(o),
                ]);
            }
            t
        }
        Kind::Group => {
            let mut t = Table::new(&["NAME", "SOURCE", "ID"]);
            for o in sorted {
                t.row(vec![name_of(o).to_owned(), source(o).to_owned(), id(o)]);
            }
            t
        }
    };
    table.render(0)
}

/// An application's policies, in order: by name and decision, and for a reusable one its id
/// (a bare reference, by its id only).
fn app_policies_text(app: &Value) -> String {
    let mut policies: Vec<&Value> = app
        .get("policies")
        .and_then(Value::as_array)
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    policies.sort_by_key(|p| p.get("precedence").and_then(Value::as_u64).unwrap_or(0));
    if policies.is_empty() {
        return "none (every request is denied)".into();
    }
    let line = |i: usize, p: &Value| {
        let id = text_field(p, "id").unwrap_or("?");
        let reusable = p.get("reusable") == Some(&Value::Bool(true));
        match (text_field(p, "name"), text_field(p, "decision")) {
            (Some(name), Some(decision)) if reusable => {
                format!("{i}. {name} ({decision}; reusable policy {id})")
            }
            (Some(name), Some(decision)) => format!("{i}. {name} ({decision})"),
            _ => format!("{i}. reusable policy {id}"),
        }
    };
    policies
        .iter()
        .enumerate()
        .map(|(i, p)| line(i + 1, p))
        .collect::<Vec<_>>()
        .join("\n")
}

fn show_text(kind: Kind, o: &Value, login_methods: &[Value]) -> String {
    let text = |f: &str| text_field(o, f).map(str::to_owned);
    let mut pairs: Vec<(&'static str, String)> = vec![
        ("Name", name_of(o).to_owned()),
        ("ID", id_of(kind, o).unwrap_or_else(|_| "-".into())),
    ];
    match kind {
        Kind::LoginMethod => {
            let c = &o["config"];
            pairs.push(("Type", text("type").unwrap_or_else(|| "-".into())));
            for (label, field) in [
                ("Client ID", "client_id"),
                ("Discovery URL", "discovery_url"),
                ("Auth URL", "auth_url"),
                ("Token URL", "token_url"),
                ("Certs URL", "certs_url"),
                ("Issuer", "issuer"),
                ("Email claim", "email_claim_name"),
            ] {
                if let Some(value) = text_field(c, field) {
                    pairs.push((label, value.to_owned()));
                }
            }
            let joined = |field: &str| {
                c.get(field)
                    .and_then(Value::as_array)
                    .filter(|a| !a.is_empty())
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
            };
            if let Some(scopes) = joined("scopes") {
                pairs.push(("Scopes", scopes));
            }
            if let Some(claims) = joined("claims") {
                pairs.push(("Claims", claims));
            }
            pairs.push(("PKCE", yes_no(c.get("pkce_enabled"))));
            let scim = &o["scim_config"];
            pairs.push((
                "SCIM",
                if scim_enabled(o) {
                    match text_field(scim, "scim_base_url") {
                        Some(url) => format!("on, endpoint {url}"),
                        None => "on".into(),
                    }
                } else {
                    "off".into()
                },
            ));
        }
        Kind::App => {
            for (label, field) in [
                ("Domain", "domain"),
                ("Origin", "origin"),
                ("AUD", "aud"),
                ("Session", "session_duration"),
            ] {
                if let Some(value) = text(field) {
                    pairs.push((label, value));
                }
            }
            let allowed: Vec<String> = o
                .get("allowed_idps")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(|id| {
                            login_methods
                                .iter()
                                .find(|l| text_field(l, "id") == Some(id))
                                .map_or_else(|| id.to_owned(), |l| name_of(l).to_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            pairs.push((
                "Login methods",
                if allowed.is_empty() {
                    "all".into()
                } else {
                    allowed.join(", ")
                },
            ));
            pairs.push(("Policies", app_policies_text(o)));
        }
        Kind::Policy => {
            pairs.push(("Decision", text("decision").unwrap_or_else(|| "-".into())));
            if let Some(n) = o.get("app_count").and_then(Value::as_u64) {
                pairs.push(("Applications", n.to_string()));
            }
            if let Some(d) = text("session_duration") {
                pairs.push(("Session", d));
            }
            push_rules(&mut pairs, o);
        }
        Kind::Group => push_rules(&mut pairs, o),
    }
    pairs.push(("Source", source(o).to_owned()));
    fields(&pairs)
}

fn added_text(kind: Kind, added: &Value) -> String {
    let id = id_of(kind, added).unwrap_or_else(|_| "-".into());
    let mut text = format!("Added {} `{}` ({id}).\n", kind.noun(), name_of(added));
    if kind == Kind::App
        && let Some(aud) = text_field(added, "aud")
    {
        text.push_str(&format!("Its audience tag (AUD) is {aud}.\n"));
    }
    let scim = &added["scim_config"];
    if let Some(secret) = text_field(scim, "secret") {
        text.push('\n');
        text.push_str(&fields(&[
            (
                "SCIM endpoint",
                text_field(scim, "scim_base_url").unwrap_or("-").to_owned(),
            ),
            ("SCIM secret", secret.to_owned()),
        ]));
        text.push_str(
            "\nThe SCIM secret is shown only this once: enter it in the identity provider's \
             provisioning settings now (`portcullis scim refresh-secret` makes a new one).\n",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: Kind, format: FileFormat, text: &str) -> Result<Value, ObjectFileError> {
        parse_object(kind, "obj", format, text).map(Value::Object)
    }

    #[test]
    fn formats_follow_the_extension() {
        let of = |p: &str| FileFormat::of(Path::new(p));
        assert_eq!(of("-").unwrap(), FileFormat::Json);
        assert_eq!(of("app.json").unwrap(), FileFormat::Json);
        assert_eq!(of("dir.d/App.TOML").unwrap(), FileFormat::Toml);
        for bad in ["app", "app.yaml", "toml"] {
            let err = of(bad).unwrap_err().to_string();
            assert!(err.contains("name the file *.json or *.toml"), "{err}");
        }
    }

    #[test]
    fn json_and_toml_give_the_same_object() {
        let from_json = parse(
            Kind::App,
            FileFormat::Json,
            r#"{"name": "wiki", "domain": "wiki.example.com", "origin": "http://10.0.0.2",
                "session_duration": "8h", "auto_redirect_to_identity": true,
                "policies": [{"id": "staff", "precedence": 1},
                             {"name": "ops", "decision": "allow",
                              "include": [{"email": {"email": "ops@example.com"}}]}]}"#,
        )
        .unwrap();
        let toml = r#"
name = "wiki"
domain = "wiki.example.com"
origin = "http://10.0.0.2"
session_duration = "8h"
auto_redirect_to_identity = true
policies = [
  { id = "staff", precedence = 1 },
  { name = "ops", decision = "allow", include = [{ email = { email = "ops@example.com" } }] },
]
"#;
        assert_eq!(parse(Kind::App, FileFormat::Toml, toml).unwrap(), from_json);
        // The configuration file's form: one `[[applications]]` entry.
        let wrapped = format!("[[applications]]\n{toml}");
        assert_eq!(
            parse(Kind::App, FileFormat::Toml, &wrapped).unwrap(),
            from_json
        );
        let wrapped = json!({"applications": [from_json.clone()]}).to_string();
        assert_eq!(
            parse(Kind::App, FileFormat::Json, &wrapped).unwrap(),
            from_json
        );
    }

    #[test]
    fn login_methods_keep_nested_tables() {
        let toml = r#"
name = "Okta"
type = "oidc"
[config]
client_id = "abc"
client_secret = "s3cret"
discovery_url = "https://example.okta.com/.well-known/openid-configuration"
claims = ["groups"]
[scim_config]
enabled = true
user_deprovision = true
"#;
        let v = parse(Kind::LoginMethod, FileFormat::Toml, toml).unwrap();
        assert_eq!(v["type"], "oidc");
        assert_eq!(v["config"]["client_secret"], "s3cret");
        assert_eq!(v["config"]["claims"], json!(["groups"]));
        assert_eq!(v["scim_config"]["user_deprovision"], true);
        let v = parse(
            Kind::Group,
            FileFormat::Toml,
            "name = \"g\"\nwhen = 2024-05-01T12:00:00Z\n",
        )
        .unwrap();
        assert_eq!(v["when"], "2024-05-01T12:00:00Z");
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = |kind, format, text| parse(kind, format, text).unwrap_err().to_string();
        assert!(
            err(Kind::Policy, FileFormat::Json, "{\"name\": ")
                .starts_with("obj is not valid JSON: EOF while parsing"),
        );
        assert!(
            err(Kind::Policy, FileFormat::Toml, "name = ").starts_with("obj is not valid TOML")
        );
        assert_eq!(
            err(Kind::Policy, FileFormat::Json, "[1, 2]"),
            "obj must hold one policy as a JSON object or TOML table, not a list"
        );
        assert_eq!(
            err(
                Kind::Group,
                FileFormat::Toml,
                "[[rule_groups]]\nname = \"a\"\n[[rule_groups]]\nname = \"b\"\n"
            ),
            "obj holds 2 entries under `rule_groups`; give one rule group per file"
        );
        // Another kind's section is just a field, which the gateway will name.
        let v = parse(
            Kind::Group,
            FileFormat::Toml,
            "[[applications]]\nname = \"a\"\n",
        )
        .unwrap();
        assert!(v.get("applications").is_some());
    }

    #[test]
    fn objects_are_named_by_id_name_or_aud() {
        let all = vec![
            json!({"id": "8e9f0c5a-0000-4000-8000-000000000001", "name": "Wiki", "aud": "a1"}),
            json!({"id": "8e9f0c5a-0000-4000-8000-000000000002", "name": "wiki", "aud": "a2"}),
            json!({"id": "8e9f0c5a-0000-4000-8000-000000000003", "name": "Status", "aud": "a3"}),
        ];
        let id = |v: Value| v["id"].as_str().unwrap().to_owned();
        assert!(id(pick(Kind::App, &all, "wiki").unwrap()).ends_with('2'));
        assert!(id(pick(Kind::App, &all, " a1 ").unwrap()).ends_with('1'));
        assert!(id(pick(Kind::App, &all, "status").unwrap()).ends_with('3'));
        assert!(
            id(pick(Kind::App, &all, "8E9F0C5A-0000-4000-8000-000000000003").unwrap())
                .ends_with('3')
        );
        assert!(matches!(
            pick(Kind::Policy, &all, "a1"),
            Err(CliError::UnknownObject { .. })
        ));
        let err = pick(Kind::App, &all, "WIKI").unwrap_err().to_string();
        assert_eq!(
            err,
            "`WIKI` names more than one application (8e9f0c5a-0000-4000-8000-000000000001, \
             8e9f0c5a-0000-4000-8000-000000000002); give the id"
        );
        let err = pick(Kind::LoginMethod, &[], "okta")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no login method `okta`; `portcullis idp list` shows them"
        );
    }

    #[test]
    fn deleting_asks_on_a_terminal_and_needs_yes_elsewhere() {
        assert!(!must_ask(true, false).unwrap());
        assert!(!must_ask(true, true).unwrap());
        assert!(must_ask(false, true).unwrap());
        assert!(matches!(must_ask(false, false), Err(CliError::NeedsYes)));
        for yes in ["y", "Y", "yes\n", " YES "] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yess", "ok"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }

    #[test]
    fn lists_are_tables_sorted_by_name() {
        let policies = vec![
            json!({"id": "staff", "name": "staff", "decision": "allow", "app_count": 2,
                   "read_only": true}),
            json!({"id": "1b6c", "name": "contractors", "decision": "deny", "app_count": 0,
                   "read_only": false}),
        ];
        assert_eq!(
            list_text(Kind::Policy, &policies),
            "NAME         DECISION  APPS  SOURCE              ID\n\
             contractors  deny      0     admin API           1b6c\n\
             staff        allow     2     configuration file  staff\n"
        );
        assert_eq!(list_text(Kind::Group, &[]), "No rule groups.\n");
        let idps = vec![json!({"id": "i1", "name": "Okta", "type": "oidc",
                               "scim_config": {"enabled": true}})];
        assert_eq!(
            list_text(Kind::LoginMethod, &idps),
            "NAME  TYPE  SCIM  SOURCE     ID\nOkta  oidc  on    admin API  i1\n"
        );
    }

    #[test]
    fn objects_are_shown_with_their_rules_and_never_a_secret() {
        let policy = json!({
            "id": "staff", "name": "staff", "decision": "allow", "app_count": 1,
            "include": [{"email_domain": {"domain": "example.com"}}, {"everyone": {}}],
            "require": [{"new_rule": {"x": 1}}],
            "read_only": true,
        });
        assert_eq!(
            show_text(Kind::Policy, &policy, &[]),
            "Name          staff\n\
             ID            staff\n\
             Decision      allow\n\
             Applications  1\n\
             Include       email_domain example.com\n\
             \x20             everyone\n\
             Require       {\"new_rule\":{\"x\":1}}\n\
             Source        configuration file\n"
        );
        let idp = json!({
            "id": "i1", "name": "Okta", "type": "oidc",
            "config": {"client_id": "abc", "discovery_url": "https://okta/.well-known/openid-configuration",
                       "scopes": ["openid", "email"], "pkce_enabled": true, "claims": []},
            "scim_config": {"enabled": true, "scim_base_url": "https://auth/scim/i1/v2"},
        });
        let text = show_text(Kind::LoginMethod, &idp, &[]);
        assert!(text.contains("Client ID      abc\n"), "{text}");
        assert!(text.contains("Scopes         openid, email\n"), "{text}");
        assert!(text.contains("PKCE           yes\n"), "{text}");
        assert!(
            text.contains("SCIM           on, endpoint https://auth/scim/i1/v2\n"),
            "{text}"
        );
        assert!(!text.contains("Claims"), "{text}");
        let app = json!({
            "id": "a1", "name": "wiki", "domain": "wiki.example.com", "origin": "http://10.0.0.2/",
            "aud": "ab12", "session_duration": "24h", "allowed_idps": ["i1", "i9"],
            "policies": [
                {"id": "staff", "precedence": 2},
                {"name": "no contractors", "decision": "deny", "precedence": 1, "include": []},
                {"id": "eng", "name": "engineers", "decision": "allow", "precedence": 3,
                 "reusable": true},
            ],
        });
        let text = show_text(Kind::App, &app, &[idp]);
        assert!(text.contains("Login methods  Okta, i9\n"), "{text}");
        assert!(
            text.contains(
                "Policies       1. no contractors (deny)\n               2. reusable policy staff\n               \
                 3. engineers (allow; reusable policy eng)\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("Source         admin API\n"), "{text}");
    }

    #[test]
    fn an_added_login_method_shows_its_scim_secret_once() {
        let added = json!({
            "id": "i1", "name": "Okta", "type": "oidc",
            "scim_config": {"enabled": true, "secret": "scim-s3cret",
                            "scim_base_url": "https://auth/scim/i1/v2"},
        });
        let text = added_text(Kind::LoginMethod, &added);
        assert!(
            text.starts_with("Added login method `Okta` (i1).\n\n"),
            "{text}"
        );
        assert!(text.contains("SCIM secret    scim-s3cret\n"), "{text}");
        assert!(text.contains("shown only this once"), "{text}");
        let without = json!({"id": "p1", "name": "staff"});
        assert_eq!(
            added_text(Kind::Policy, &without),
            "Added policy `staff` (p1).\n"
        );
    }
}
