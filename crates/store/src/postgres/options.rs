//! The options a PostgreSQL URL carries: sqlx's own (host, credentials, `sslmode`,
//! `sslrootcert`, ...) plus the pool and timeout settings Portcullis reads from the query string,
//! so that a deployment tunes them in `database_url` without a configuration change.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use url::Url;

use crate::StoreError;

/// Connections per node unless `max_connections` says otherwise.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;
/// How long a query waits for a free connection unless `acquire_timeout` says otherwise.
const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a statement may run unless `statement_timeout` says otherwise: long enough for
/// any query the store makes, short enough that a stuck one frees its connection.
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed PostgreSQL URL.
#[derive(Clone, Debug)]
pub(crate) struct PgOptions {
    /// What sqlx connects with; the statement timeout is already in its startup options.
    pub(crate) connect: PgConnectOptions,
    pub(crate) max_connections: u32,
    pub(crate) min_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) statement_timeout: Duration,
}

impl PgOptions {
    /// Reads `postgres://` and `postgresql://` URLs. Recognised query parameters besides sqlx's:
    /// `max_connections` (default 10), `min_connections` (default 0), `acquire_timeout` (default
    /// `5s`) and `statement_timeout` (default `10s`; `0s` turns it off), durations written as
    /// a whole number followed by `ms`, `s` or `m`. Errors never repeat the password.
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        let mut parsed = Url::parse(url).map_err(|e| invalid(format!("not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(invalid(
                "expected a postgres:// or postgresql:// URL".into(),
            ));
        }
        let password = parsed.password().map(str::to_owned);

        let mut max_connections = DEFAULT_MAX_CONNECTIONS;
        let mut min_connections = 0;
        let mut acquire_timeout = DEFAULT_ACQUIRE_TIMEOUT;
        let mut statement_timeout = DEFAULT_STATEMENT_TIMEOUT;
        let mut passed_on = Vec::new();
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "max_connections" => max_connections = count(&key, &value)?,
                "min_connections" => min_connections = count(&key, &value)?,
                "acquire_timeout" => acquire_timeout = duration(&key, &value)?,
                "statement_timeout" => statement_timeout = duration(&key, &value)?,
                _ => passed_on.push((key.into_owned(), value.into_owned())),
            }
        }
        if max_connections == 0 {
            return Err(invalid("max_connections must be at least 1".into()));
        }
        if min_connections > max_connections {
            return Err(invalid(format!(
                "min_connections ({min_connections}) exceeds max_connections ({max_connections})"
            )));
        }
        if passed_on.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(passed_on);
        }

        let connect = PgConnectOptions::from_str(parsed.as_str())
            .map_err(|e| invalid(redact(&e.to_string(), password.as_deref())))?
            .options([(
                "statement_timeout",
                format!("{}ms", statement_timeout.as_millis()),
            )]);
        let connect = if connect.get_application_name().is_none() {
            connect.application_name("portcullis")
        } else {
            connect
        };
        Ok(Self {
            connect,
            max_connections,
            min_connections,
            acquire_timeout,
            statement_timeout,
        })
    }

    /// Where the database is, for logs and error messages: host, port and database name, never
    /// the credentials.
    pub(crate) fn host(&self) -> String {
        format!(
            "{}:{}/{}",
            self.connect.get_host(),
            self.connect.get_port(),
            self.connect.get_database().unwrap_or_default()
        )
    }
}

fn invalid(message: String) -> StoreError {
    StoreError::InvalidUrl(message)
}

/// Removes a password from a message that might quote it.
pub(crate) fn redact(message: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => message.replace(p, "***"),
        _ => message.to_owned(),
    }
}

fn count(key: &str, value: &str) -> Result<u32, StoreError> {
    value
        .parse()
        .map_err(|_| invalid(format!("{key} must be a whole number, not {value:?}")))
}

/// `250ms`, `5s`, `2m`.
fn duration(key: &str, value: &str) -> Result<Duration, StoreError> {
    let bad = || {
        invalid(format!(
            "{key} must be a whole number followed by ms, s or m (e.g. 5s), not {value:?}"
        ))
    };
    let split = value.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = value.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or_else(bad),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use sqlx::postgres::PgSslMode;

    use super::*;

    #[test]
    fn defaults_apply_when_the_url_says_nothing() {
        let o = PgOptions::parse("postgres://app:pw@db.internal:6432/portcullis").unwrap();
        assert_eq!(o.max_connections, 10);
        assert_eq!(o.min_connections, 0);
        assert_eq!(o.acquire_timeout, Duration::from_secs(5));
        assert_eq!(o.statement_timeout, Duration::from_secs(10));
        assert_eq!(o.connect.get_host(), "db.internal");
        assert_eq!(o.connect.get_port(), 6432);
        assert_eq!(o.connect.get_username(), "app");
        assert_eq!(o.connect.get_database(), Some("portcullis"));
        assert_eq!(
            o.connect.get_options(),
            Some("-c statement_timeout=10000ms")
        );
        assert_eq!(o.connect.get_application_name(), Some("portcullis"));
        assert_eq!(o.host(), "db.internal:6432/portcullis");
    }

    #[test]
    fn our_query_parameters_are_read_and_sqlx_gets_the_rest() {
        let o = PgOptions::parse(
            "postgresql://app@db/p?max_connections=32&sslmode=verify-full\
             &sslrootcert=/etc/ca.pem&min_connections=2&acquire_timeout=750ms\
             &statement_timeout=1m&application_name=edge",
        )
        .unwrap();
        assert_eq!(o.max_connections, 32);
        assert_eq!(o.min_connections, 2);
        assert_eq!(o.acquire_timeout, Duration::from_millis(750));
        assert_eq!(o.statement_timeout, Duration::from_secs(60));
        assert_eq!(
            o.connect.get_options(),
            Some("-c statement_timeout=60000ms")
        );
        assert!(matches!(o.connect.get_ssl_mode(), PgSslMode::VerifyFull));
        assert_eq!(o.connect.get_application_name(), Some("edge"));
        let o = PgOptions::parse("postgres://db/p?sslmode=require").unwrap();
        assert!(matches!(o.connect.get_ssl_mode(), PgSslMode::Require));
    }

    #[test]
    fn bad_values_are_refused_with_the_key_and_without_the_password() {
        for (url, says) in [
            (
                "postgres://u:hunter2@db/p?max_connections=lots",
                "max_connections",
            ),
            (
                "postgres://u:hunter2@db/p?max_connections=0",
                "max_connections",
            ),
            (
                "postgres://u:hunter2@db/p?acquire_timeout=5",
                "acquire_timeout",
            ),
            (
                "postgres://u:hunter2@db/p?statement_timeout=5h",
                "statement_timeout",
            ),
            (
                "postgres://u:hunter2@db/p?min_connections=5&max_connections=2",
                "min_connections",
            ),
            ("postgres://u:hunter2@db/p?sslmode=sometimes", ""),
            ("mysql://u:hunter2@db/p", "postgres://"),
            ("postgres://u:hunter2@[db/p", ""),
        ] {
            match PgOptions::parse(url) {
                Err(StoreError::InvalidUrl(message)) => {
                    assert!(message.contains(says), "{url}: {message}");
                    assert!(!message.contains("hunter2"), "{url}: {message}");
                }
                other => panic!("{url}: expected InvalidUrl, got {other:?}"),
            }
        }
    }

    #[test]
    fn redaction_hides_the_password() {
        assert_eq!(redact("bad hunter2 here", Some("hunter2")), "bad *** here");
        assert_eq!(redact("bad", None), "bad");
        assert_eq!(redact("bad", Some("")), "bad");
    }
}
