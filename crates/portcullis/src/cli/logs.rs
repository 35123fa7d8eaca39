//! `portcullis logs access|scim [--follow]`: the authentication log and the SCIM provisioning log,
//! read from the store (with `--config`) or from a gateway's admin API (with `--url`).
//!
//! Both sources are turned into the same records, so a script sees the same JSON either way.
//! `--follow` prints the latest records and then polls every two seconds for newer ones, as
//! `tail -f` does; the log has no cursor of its own, so records are remembered by content at the
//! newest instant seen, and asked for again from that instant (the API counts in whole seconds).

use std::collections::HashSet;
use std::time::Duration;

use clap::Subcommand;
use portcullis_scim::Timestamp;
use portcullis_store::{
    AuthLogQuery, AuthLogRecord, MAX_AUTH_LOG_LIMIT, MAX_SCIM_LOG_LIMIT, ScimLogQuery,
    ScimLogRecord, Store,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::format::{Table, json, when};
use super::remote::{Remote, RemoteError};
use super::{CliError, Output};

/// How often `--follow` asks for new records.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Subcommand, Debug, Clone)]
pub enum LogsCommand {
    /// Sign-in attempts, allowed and refused, oldest first.
    Access {
        /// How many of the latest records to show.
        #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Only this user's attempts.
        #[arg(long)]
        email: Option<String>,
        /// Keep printing new records as they come (every 2 s) until interrupted.
        #[arg(long)]
        follow: bool,
    },
    /// SCIM provisioning requests from identity providers, oldest first.
    Scim {
        /// How many of the latest records to show.
        #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Keep printing new records as they come (every 2 s) until interrupted.
        #[arg(long)]
        follow: bool,
    },
}

impl LogsCommand {
    /// Whether the command runs until interrupted.
    pub fn follows(&self) -> bool {
        match self {
            LogsCommand::Access { follow, .. } | LogsCommand::Scim { follow, .. } => *follow,
        }
    }
}

/// Where the records come from.
#[derive(Clone, Copy)]
pub enum LogSource<'a> {
    Store(&'a dyn Store),
    Remote(&'a Remote),
}

/// One authentication attempt, as both sources print it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct AccessRecord {
    /// Unix seconds.
    created_at: i64,
    user_email: Option<String>,
    allowed: bool,
    action: String,
    app_uid: Option<Uuid>,
    app_domain: Option<String>,
    ip_address: Option<String>,
    country: Option<String>,
    connection: String,
    ray_id: String,
    reason: Option<String>,
}

impl From<AuthLogRecord> for AccessRecord {
    fn from(l: AuthLogRecord) -> AccessRecord {
        AccessRecord {
            created_at: l.created_at,
            user_email: l.user_email,
            allowed: l.allowed,
            action: l.action,
            app_uid: l.app_uid,
            app_domain: l.app_domain,
            ip_address: l.ip_address,
            country: l.country,
            connection: l.connection,
            ray_id: l.ray_id,
            reason: l.reason,
        }
    }
}

/// One SCIM request, as both sources print it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct ScimRecord {
    /// Unix milliseconds.
    logged_ms: i64,
    idp_id: Option<Uuid>,
    request_method: String,
    resource_type: String,
    user_email: Option<String>,
    group_name: Option<String>,
    resource_id: Option<String>,
    external_id: Option<String>,
    success: bool,
    error_description: Option<String>,
}

impl From<ScimLogRecord> for ScimRecord {
    fn from(l: ScimLogRecord) -> ScimRecord {
        ScimRecord {
            logged_ms: l.logged_ms,
            idp_id: Some(l.idp_id),
            request_method: l.request_method,
            resource_type: l.resource_type,
            user_email: l.user_email,
            group_name: l.group_name,
            resource_id: l.resource_id,
            external_id: l.external_id,
            success: l.success,
            error_description: l.error_description,
        }
    }
}

/// A record of either log, ready to print either way.
struct Entry {
    at_ms: i64,
    json: Value,
    cells: Vec<String>,
}

const ACCESS_HEADER: &[&str] = &[
    "WHEN",
    "RESULT",
    "EMAIL",
    "APPLICATION",
    "IP",
    "COUNTRY",
    "DETAIL",
];
const SCIM_HEADER: &[&str] = &["WHEN", "STATUS", "METHOD", "TYPE", "RESOURCE", "ERROR"];

fn dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".to_owned())
}

/// An instant with seconds, for log lines: `2024-05-01 12:00:07 UTC`.
fn when_exact(unix: i64) -> String {
    let minutes = when(unix);
    let date_and_minute = minutes.trim_end_matches(" UTC");
    format!("{date_and_minute}:{:02} UTC", unix.rem_euclid(60))
}

fn access_entry(r: &AccessRecord) -> Result<Entry, CliError> {
    Ok(Entry {
        at_ms: r.created_at.saturating_mul(1000),
        json: serde_json::to_value(r).map_err(CliError::Json)?,
        cells: vec![
            when_exact(r.created_at),
            if r.allowed { "allowed" } else { "denied" }.to_owned(),
            dash(&r.user_email),
            dash(&r.app_domain),
            dash(&r.ip_address),
            dash(&r.country),
            r.reason.clone().unwrap_or_else(|| r.action.clone()),
        ],
    })
}

fn scim_entry(r: &ScimRecord) -> Result<Entry, CliError> {
    Ok(Entry {
        at_ms: r.logged_ms,
        json: serde_json::to_value(r).map_err(CliError::Json)?,
        cells: vec![
            when_exact(r.logged_ms.div_euclid(1000)),
            if r.success { "SUCCESS" } else { "FAILURE" }.to_owned(),
            r.request_method.clone(),
            r.resource_type.clone(),
            r.user_email
                .clone()
                .or_else(|| r.group_name.clone())
                .or_else(|| r.resource_id.clone())
                .unwrap_or_else(|| "-".to_owned()),
            dash(&r.error_description),
        ],
    })
}

/// The access log as the admin API writes it (`logs/access_requests`).
#[derive(Deserialize)]
struct ApiAccess {
    user_email: Option<String>,
    ip_address: Option<String>,
    app_uid: Option<Uuid>,
    app_domain: Option<String>,
    action: String,
    connection: String,
    allowed: bool,
    created_at: String,
    ray_id: String,
    country: Option<String>,
    reason: Option<String>,
}

/// The SCIM log as the admin API writes it (`logs/scim/updates`).
#[derive(Deserialize)]
struct ApiScim {
    cf_resource_id: Option<String>,
    error_description: Option<String>,
    idp_id: Option<Uuid>,
    idp_resource_id: Option<String>,
    logged_at: String,
    request_method: String,
    resource_group_name: Option<String>,
    resource_type: String,
    resource_user_email: Option<String>,
    status: String,
}

fn api_millis(field: &str, text: &str) -> Result<i64, CliError> {
    Timestamp::parse_rfc3339(text)
        .map(Timestamp::unix_millis)
        .ok_or_else(|| {
            RemoteError::Unexpected(format!("{field} `{text}` is not an RFC 3339 time")).into()
        })
}

fn api_list<T: serde::de::DeserializeOwned>(result: Value, what: &str) -> Result<Vec<T>, CliError> {
    serde_json::from_value(result)
        .map_err(|e| RemoteError::Unexpected(format!("{what}: {e}")).into())
}

/// What one fetch asks for.
struct Window<'a> {
    /// Records at or after this instant (unix milliseconds; whole seconds for the access log).
    since_ms: Option<i64>,
    limit: u32,
    descending: bool,
    email: Option<&'a str>,
}

async fn fetch_access(source: LogSource<'_>, w: &Window<'_>) -> Result<Vec<Entry>, CliError> {
    let records: Vec<AccessRecord> = match source {
        LogSource::Store(store) => store
            .list_auth_logs(&AuthLogQuery {
                since: w.since_ms.map(|ms| ms.div_euclid(1000)),
                email: w.email.map(|e| e.trim().to_lowercase()),
                limit: w.limit,
                descending: w.descending,
                ..AuthLogQuery::default()
            })
            .await?
            .into_iter()
            .map(AccessRecord::from)
            .collect(),
        LogSource::Remote(remote) => {
            let query = remote_query(w);
            let rows: Vec<ApiAccess> = api_list(
                remote.get(&["logs", "access_requests"], &query).await?,
                "logs/access_requests",
            )?;
            rows.into_iter()
                .map(|r| {
                    Ok(AccessRecord {
                        created_at: api_millis("created_at", &r.created_at)?.div_euclid(1000),
                        user_email: r.user_email,
                        allowed: r.allowed,
                        action: r.action,
                        app_uid: r.app_uid,
                        app_domain: r.app_domain,
                        ip_address: r.ip_address,
                        country: r.country,
                        connection: r.connection,
                        ray_id: r.ray_id,
                        reason: r.reason,
                    })
                })
                .collect::<Result<_, CliError>>()?
        }
    };
    records.iter().map(access_entry).collect()
}

async fn fetch_scim(source: LogSource<'_>, w: &Window<'_>) -> Result<Vec<Entry>, CliError> {
    let records: Vec<ScimRecord> = match source {
        LogSource::Store(store) => store
            .list_scim_logs(&ScimLogQuery {
                since_ms: w.since_ms,
                limit: w.limit,
                descending: w.descending,
                ..ScimLogQuery::default()
            })
            .await?
            .into_iter()
            .map(ScimRecord::from)
            .collect(),
        LogSource::Remote(remote) => {
            let query = remote_query(w);
            let rows: Vec<ApiScim> = api_list(
                remote.get(&["logs", "scim", "updates"], &query).await?,
                "logs/scim/updates",
            )?;
            rows.into_iter()
                .map(|r| {
                    Ok(ScimRecord {
                        logged_ms: api_millis("logged_at", &r.logged_at)?,
                        idp_id: r.idp_id,
                        request_method: r.request_method,
                        resource_type: r.resource_type,
                        user_email: r.resource_user_email,
                        group_name: r.resource_group_name,
                        resource_id: r.cf_resource_id,
                        external_id: r.idp_resource_id,
                        success: r.status == "SUCCESS",
                        error_description: r.error_description,
                    })
                })
                .collect::<Result<_, CliError>>()?
        }
    };
    records.iter().map(scim_entry).collect()
}

/// The admin API's query parameters for a window; `since` in whole seconds, as it reads them.
fn remote_query(w: &Window<'_>) -> Vec<(&'static str, String)> {
    let mut query = vec![
        ("limit", w.limit.to_string()),
        (
            "direction",
            if w.descending { "desc" } else { "asc" }.to_owned(),
        ),
    ];
    if let Some(ms) = w.since_ms {
        let seconds = ms.div_euclid(1000);
        query.push((
            "since",
            Timestamp::from_unix_millis(seconds.saturating_mul(1000)).to_string(),
        ));
    }
    if let Some(email) = w.email {
        query.push(("email", email.trim().to_lowercase()));
    }
    query
}

/// The records of one window, oldest first.
async fn fetch(
    source: LogSource<'_>,
    command: &LogsCommand,
    since_ms: Option<i64>,
) -> Result<Vec<Entry>, CliError> {
    let (limit, email, access) = match command {
        LogsCommand::Access { limit, email, .. } => (*limit, email.as_deref(), true),
        LogsCommand::Scim { limit, .. } => (*limit, None, false),
    };
    // Without a starting point: the latest `limit` records. From one: everything after it.
    let window = Window {
        since_ms,
        limit: if since_ms.is_some() {
            if access {
                MAX_AUTH_LOG_LIMIT
            } else {
                MAX_SCIM_LOG_LIMIT
            }
        } else {
            limit
        },
        descending: since_ms.is_none(),
        email,
    };
    let mut entries = if access {
        fetch_access(source, &window).await?
    } else {
        fetch_scim(source, &window).await?
    };
    if window.descending {
        entries.reverse();
    }
    Ok(entries)
}

fn header(command: &LogsCommand) -> &'static [&'static str] {
    match command {
        LogsCommand::Access { .. } => ACCESS_HEADER,
        LogsCommand::Scim { .. } => SCIM_HEADER,
    }
}

/// `logs access|scim` without `--follow`: the latest records, oldest first.
pub async fn show(
    source: LogSource<'_>,
    command: &LogsCommand,
    output: Output,
) -> Result<String, CliError> {
    let entries = fetch(source, command, None).await?;
    if output == Output::Json {
        return json(&entries.iter().map(|e| &e.json).collect::<Vec<_>>());
    }
    if entries.is_empty() {
        return Ok(match command {
            LogsCommand::Access { .. } => "No sign-in attempts recorded.\n".to_owned(),
            LogsCommand::Scim { .. } => "No SCIM requests recorded.\n".to_owned(),
        });
    }
    let mut table = Table::new(header(command));
    for e in entries {
        table.row(e.cells);
    }
    Ok(table.render(0))
}

/// Remembers what `--follow` has printed, to print each record once.
#[derive(Default)]
struct Seen {
    /// The newest instant printed (unix milliseconds).
    cursor: Option<i64>,
    /// The records printed at or after the start of the cursor's second.
    keys: HashSet<String>,
}

impl Seen {
    /// The entries not printed yet; remembers them.
    fn fresh(&mut self, entries: Vec<Entry>) -> Vec<Entry> {
        let fresh: Vec<Entry> = entries
            .into_iter()
            .filter(|e| self.keys.insert(e.json.to_string()))
            .collect();
        if let Some(newest) = fresh.iter().map(|e| e.at_ms).max() {
            let cursor = self.cursor.map_or(newest, |c| c.max(newest));
            self.cursor = Some(cursor);
            // The next window starts at the cursor's whole second: older records cannot return.
            let floor = cursor.div_euclid(1000) * 1000;
            self.keys.retain(|k| {
                serde_json::from_str::<Value>(k)
                    .ok()
                    .and_then(|v| at_ms_of(&v))
                    .is_none_or(|at| at >= floor)
            });
        }
        fresh
    }
}

fn at_ms_of(record: &Value) -> Option<i64> {
    record.get("logged_ms").and_then(Value::as_i64).or_else(|| {
        record
            .get("created_at")
            .and_then(Value::as_i64)
            .map(|s| s.saturating_mul(1000))
    })
}

/// One printed line per entry: columns two spaces apart for people, one JSON object per line
/// for programs.
fn lines(entries: &[Entry], output: Output) -> String {
    let mut text = String::new();
    for e in entries {
        match output {
            Output::Json => text.push_str(&e.json.to_string()),
            Output::Human => text.push_str(&e.cells.join("  ")),
        }
        text.push('\n');
    }
    text
}

/// `logs access|scim --follow`: prints the latest records, then every `interval` the new ones,
/// through `print`, until the caller stops waiting (it never returns `Ok`).
pub async fn follow(
    source: LogSource<'_>,
    command: &LogsCommand,
    output: Output,
    interval: Duration,
    print: &mut dyn FnMut(&str),
) -> Result<(), CliError> {
    let mut seen = Seen::default();
    if output == Output::Human {
        print(&format!("{}\n", header(command).join("  ")));
    }
    loop {
        let entries = fetch(source, command, seen.cursor).await?;
        let fresh = seen.fresh(entries);
        if !fresh.is_empty() {
            print(&lines(&fresh, output));
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tester::tests::store;
    use portcullis_store::ScimLogRecord;

    const NOW: i64 = 1_700_000_000;

    fn attempt(email: &str, at: i64, allowed: bool) -> AuthLogRecord {
        AuthLogRecord {
            id: Uuid::new_v4(),
            ray_id: format!("ray-{email}-{at}"),
            created_at: at,
            user_email: Some(email.to_owned()),
            user_id: None,
            ip_address: Some("10.0.0.8".into()),
            app_uid: None,
            app_domain: Some("wiki.example.com".into()),
            app_name: Some("wiki".into()),
            connection: "oidc".into(),
            idp_id: None,
            action: "login".into(),
            allowed,
            reason: (!allowed).then(|| "no policy matched".to_owned()),
            country: None,
        }
    }

    fn scim_request(at_ms: i64, email: &str) -> ScimLogRecord {
        ScimLogRecord {
            id: Uuid::new_v4(),
            idp_id: Uuid::new_v4(),
            logged_ms: at_ms,
            request_method: "POST".into(),
            resource_type: "USER".into(),
            user_email: Some(email.into()),
            group_name: None,
            resource_id: Some("r1".into()),
            external_id: None,
            success: true,
            error_description: None,
            request_body: None,
        }
    }

    fn access(limit: u32, email: Option<&str>) -> LogsCommand {
        LogsCommand::Access {
            limit,
            email: email.map(str::to_owned),
            follow: false,
        }
    }

    #[tokio::test]
    async fn the_latest_records_oldest_first_with_filters() {
        let store = store().await;
        let s = store.as_ref();
        for (i, email) in ["ann@example.com", "bob@example.com", "ann@example.com"]
            .iter()
            .enumerate()
        {
            s.insert_auth_log(&attempt(email, NOW + i as i64, i != 1))
                .await
                .unwrap();
        }
        let text = show(LogSource::Store(s), &access(2, None), Output::Human)
            .await
            .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("WHEN"), "{text}");
        assert!(
            lines[1].starts_with("2023-11-14 22:13:21 UTC  denied   bob@example.com"),
            "{text}"
        );
        assert!(lines[1].ends_with("no policy matched"), "{text}");
        assert!(lines[2].contains("allowed  ann@example.com"), "{text}");

        let json_text = show(
            LogSource::Store(s),
            &access(25, Some("Ann@Example.com")),
            Output::Json,
        )
        .await
        .unwrap();
        let rows: Value = serde_json::from_str(&json_text).unwrap();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["created_at"], NOW);
        assert_eq!(rows[1]["user_email"], "ann@example.com");
        assert_eq!(rows[1]["app_domain"], "wiki.example.com");

        let empty = show(
            LogSource::Store(s),
            &LogsCommand::Scim {
                limit: 5,
                follow: false,
            },
            Output::Human,
        )
        .await
        .unwrap();
        assert_eq!(empty, "No SCIM requests recorded.\n");
    }

    #[tokio::test]
    async fn follow_prints_each_record_once() {
        let store = store().await;
        let s = store.as_ref();
        s.insert_scim_log(&scim_request(NOW * 1000 + 500, "old@example.com"))
            .await
            .unwrap();
        let printed = std::sync::Mutex::new(String::new());
        let command = LogsCommand::Scim {
            limit: 10,
            follow: true,
        };
        let mut print = |t: &str| printed.lock().unwrap().push_str(t);
        let following = follow(
            LogSource::Store(s),
            &command,
            Output::Json,
            Duration::from_millis(20),
            &mut print,
        );
        let writer = async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            // Same second as the first record, and a later one.
            s.insert_scim_log(&scim_request(NOW * 1000 + 900, "same-second@example.com"))
                .await
                .unwrap();
            s.insert_scim_log(&scim_request(NOW * 1000 + 2_000, "new@example.com"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
        };
        tokio::select! {
            r = following => panic!("follow ended: {:?}", r.err()),
            () = writer => {}
        }
        let text = printed.lock().unwrap().clone();
        let emails: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["user_email"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            emails,
            [
                "old@example.com",
                "same-second@example.com",
                "new@example.com"
            ],
            "{text}"
        );
    }

    #[test]
    fn remote_windows_ask_in_whole_seconds() {
        let query = remote_query(&Window {
            since_ms: Some(NOW * 1000 + 999),
            limit: 1000,
            descending: false,
            email: Some(" Ann@Example.com "),
        });
        assert_eq!(
            query,
            [
                ("limit", "1000".to_owned()),
                ("direction", "asc".to_owned()),
                ("since", "2023-11-14T22:13:20Z".to_owned()),
                ("email", "ann@example.com".to_owned()),
            ]
        );
        assert_eq!(when_exact(NOW + 7), "2023-11-14 22:13:27 UTC");
    }
}
