//! A client of a running gateway's admin API (`<team URL>/client/v4/…`), for the administration
//! commands given `--url`: they then work from any machine that can reach the gateway, with an
//! API token instead of the configuration and the database.
//!
//! This module knows HTTP and the Cloudflare v4 envelope: where each request goes, how the
//! account id is found (`GET /client/v4/accounts`), and how a failure becomes a message for the
//! operator. What each command asks and prints is in [`super::remote_commands`]. The token is
//! kept in a [`SecretString`] and sent as a sensitive header; no message or log line contains it.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::OnceCell;
use url::Url;

/// How long one request may take before the command gives up.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request to the admin API failed, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("`{url}` is not a team URL such as https://auth.example.com: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("--url needs an API token: give --token or set PORTCULLIS_API_TOKEN")]
    NoToken,
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "the token was refused by {url}: check --token (or PORTCULLIS_API_TOKEN); `portcullis api-token create` makes one"
    )]
    TokenRefused { url: String },
    /// The messages of the envelope's `errors[]`.
    #[error("{0}")]
    Api(String),
    /// The same, for an answer `404 Not Found`: what was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error(
        "{url} answered HTTP {status} without the admin API's JSON envelope; is it the gateway's team URL?"
    )]
    NotTheApi { url: String, status: u16 },
    /// The gateway's API lacks what the command needs; says what to do instead.
    #[error("{0}")]
    Unsupported(String),
    #[error("the admin API answered something unexpected: {0}")]
    Unexpected(String),
    #[error(
        "`{0}` is not available through the admin API; run it with --config on a machine that has the configuration"
    )]
    LocalOnly(&'static str),
}

/// A connection to one gateway's admin API.
pub struct Remote {
    client: reqwest::Client,
    /// The team URL without a trailing slash, e.g. `https://auth.example.com`.
    base: Url,
    token: SecretString,
    account: OnceCell<String>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Parses a team URL: http or https, no query or fragment; a trailing slash is dropped.
pub fn team_url(text: &str) -> Result<Url, RemoteError> {
    let bad = |reason: &str| RemoteError::BadUrl {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or a fragment"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// `base` followed by these path segments, each percent-encoded as needed.
pub fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Whether the host is `localhost` or a name under it, which RFC 6761 reserves for the loopback
/// interface (the demo's team domain is `auth.localhost`); not every system resolver knows.
fn is_localhost(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// The `errors[].message` of a Cloudflare envelope, joined; `None` when there are none.
pub fn envelope_errors(body: &Value) -> Option<String> {
    let messages: Vec<&str> = body
        .get("errors")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("message").and_then(Value::as_str))
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// The `result` of an answer, or the error it stands for.
pub fn read_envelope(url: &Url, status: StatusCode, body: &[u8]) -> Result<Value, RemoteError> {
    if status == StatusCode::UNAUTHORIZED {
        return Err(RemoteError::TokenRefused {
            url: url.as_str().to_owned(),
        });
    }
    let not_the_api = || RemoteError::NotTheApi {
        url: url.as_str().to_owned(),
        status: status.as_u16(),
    };
    let body: Value = serde_json::from_slice(body).map_err(|_| not_the_api())?;
    let success = body.get("success").and_then(Value::as_bool);
    match success {
        Some(true) if status.is_success() => Ok(body.get("result").cloned().unwrap_or(Value::Null)),
        Some(_) => {
            let message =
                envelope_errors(&body).unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            Err(if status == StatusCode::NOT_FOUND {
                RemoteError::NotFound(message)
            } else {
                RemoteError::Api(message)
            })
        }
        None => Err(not_the_api()),
    }
}

impl Remote {
    /// A client for the gateway at `team_url_text`, authenticating with `token` (a
    /// [`SecretString`], or a `String` that becomes one).
    pub fn connect(
        team_url_text: &str,
        token: Option<impl Into<SecretString>>,
    ) -> Result<Remote, RemoteError> {
        let base = team_url(team_url_text)?;
        let token = token
            .map(Into::into)
            .filter(|t| !t.expose_secret().trim().is_empty())
            .ok_or(RemoteError::NoToken)?;
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(host) = base.host_str().filter(|h| is_localhost(h)) {
            // Port 0: the connection keeps the URL's port.
            builder = builder.resolve(host, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        }
        let client = builder.build().map_err(|e| RemoteError::Unreachable {
            url: base.as_str().to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Remote {
            client,
            base,
            token,
            account: OnceCell::new(),
        })
    }

    /// The team URL this client talks to.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Sends one request and returns the envelope's `result`.
    async fn send(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        let mut auth = reqwest::header::HeaderValue::from_str(&format!(
            "Bearer {}",
            self.token.expose_secret().trim()
        ))
        .map_err(|_| {
            RemoteError::Api("the API token contains characters a header cannot carry".into())
        })?;
        auth.set_sensitive(true);
        let mut request = self
            .client
            .request(method, url.clone())
            .header(reqwest::header::AUTHORIZATION, auth);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |e: reqwest::Error| RemoteError::Unreachable {
            url: self.base.as_str().to_owned(),
            reason: if e.is_timeout() {
                format!("no answer within {} s", TIMEOUT.as_secs())
            } else {
                error_chain(&e)
            },
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        read_envelope(&url, status, &bytes)
    }

    /// The gateway's account id, asked once.
    pub async fn account_id(&self) -> Result<&str, RemoteError> {
        self.account
            .get_or_try_init(|| async {
                let url = join(&self.base, &["client", "v4", "accounts"]);
                let result = self.send(Method::GET, url, &[], None).await?;
                result
                    .get(0)
                    .and_then(|a| a.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        RemoteError::Unexpected("GET /client/v4/accounts lists no account".into())
                    })
            })
            .await
            .map(String::as_str)
    }

    /// `…/accounts/<id>/access/<path…>`.
    async fn access_url(&self, path: &[&str]) -> Result<Url, RemoteError> {
        let account = self.account_id().await?;
        let mut segments = vec!["client", "v4", "accounts", account, "access"];
        segments.extend_from_slice(path);
        Ok(join(&self.base, &segments))
    }

    /// `GET …/access/<path>` with query parameters.
    pub async fn get(&self, path: &[&str], query: &[(&str, String)]) -> Result<Value, RemoteError> {
        let url = self.access_url(path).await?;
        self.send(Method::GET, url, query, None).await
    }

    /// A request with a JSON body (or none) to `…/access/<path>`.
    pub async fn call(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        let url = self.access_url(path).await?;
        self.send(method, url, &[], body).await
    }

    /// The team domain's public signing certificates (`/cdn-cgi/access/certs`), which name the
    /// current key; they need no token. A separate admin listener does not serve them
    /// ([`RemoteError::NotFound`]).
    pub async fn certs(&self) -> Result<Value, RemoteError> {
        let url = join(&self.base, &["cdn-cgi", "access", "certs"]);
        let unreachable = |e: reqwest::Error| RemoteError::Unreachable {
            url: self.base.as_str().to_owned(),
            reason: error_chain(&e),
        };
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(RemoteError::NotFound(format!(
                "{url} answered HTTP {}",
                response.status().as_u16()
            )));
        }
        response.json().await.map_err(unreachable)
    }
}

/// An error and its causes on one line (reqwest's own message alone says little, e.g. "error
/// sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn team_urls_are_checked_and_joined() {
        let base = team_url("https://auth.example.com/").unwrap();
        assert_eq!(
            join(&base, &["client", "v4", "accounts"]).as_str(),
            "https://auth.example.com/client/v4/accounts"
        );
        let base = team_url("http://auth.localhost:8080").unwrap();
        assert_eq!(
            join(
                &base,
                &["client", "v4", "accounts", "a1", "access", "apps", "x y/z"]
            )
            .as_str(),
            "http://auth.localhost:8080/client/v4/accounts/a1/access/apps/x%20y%2Fz"
        );
        // A team URL behind a path prefix keeps it.
        let base = team_url("https://example.com/gw/").unwrap();
        assert_eq!(
            join(&base, &["cdn-cgi", "access", "certs"]).as_str(),
            "https://example.com/gw/cdn-cgi/access/certs"
        );
        for bad in [
            "auth.example.com",
            "ftp://auth.example.com",
            "https://auth.example.com/?x=1",
            "https://auth.example.com/#top",
        ] {
            assert!(
                matches!(team_url(bad), Err(RemoteError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn localhost_names_are_loopback() {
        assert!(is_localhost("localhost"));
        assert!(is_localhost("auth.localhost"));
        assert!(is_localhost("Auth.LocalHost."));
        assert!(!is_localhost("localhost.example.com"));
        assert!(!is_localhost("notlocalhost"));
    }

    #[test]
    fn envelopes_become_results_or_messages() {
        let url = team_url("https://auth.example.com").unwrap();
        let ok = json!({"success": true, "errors": [], "messages": [], "result": [1, 2]});
        assert_eq!(
            read_envelope(&url, StatusCode::OK, ok.to_string().as_bytes()).unwrap(),
            json!([1, 2])
        );
        let failed = json!({"success": false, "messages": [], "result": null, "errors": [
            {"code": 12000, "message": "name: required"},
            {"code": 12001, "message": "duration: bad"},
        ]});
        let err = read_envelope(&url, StatusCode::BAD_REQUEST, failed.to_string().as_bytes())
            .unwrap_err();
        assert_eq!(err.to_string(), "name: required; duration: bad");

        let refused = json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}]});
        let err = read_envelope(
            &url,
            StatusCode::UNAUTHORIZED,
            refused.to_string().as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("the token was refused by https://auth.example.com/"),
            "{err}"
        );

        let err = read_envelope(&url, StatusCode::NOT_FOUND, b"<html>not found</html>")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HTTP 404 without the admin API's JSON envelope"),
            "{err}"
        );
        let err = read_envelope(&url, StatusCode::OK, b"{\"hello\": 1}").unwrap_err();
        assert!(matches!(err, RemoteError::NotTheApi { status: 200, .. }));
        let err = read_envelope(&url, StatusCode::FORBIDDEN, b"{\"success\": false}").unwrap_err();
        assert_eq!(err.to_string(), "HTTP 403");
        let missing = json!({"success": false, "errors": [{"code": 7003, "message": "no user x"}]});
        let err =
            read_envelope(&url, StatusCode::NOT_FOUND, missing.to_string().as_bytes()).unwrap_err();
        assert!(
            matches!(&err, RemoteError::NotFound(m) if m == "no user x"),
            "{err}"
        );
    }

    #[test]
    fn a_token_is_required_and_never_shown() {
        let secret = "s3cret-token-value";
        let err = Remote::connect("https://auth.example.com", None::<String>).unwrap_err();
        assert!(matches!(err, RemoteError::NoToken));
        let err =
            Remote::connect("https://auth.example.com", Some(SecretString::from(" "))).unwrap_err();
        assert!(matches!(err, RemoteError::NoToken));
        let remote =
            Remote::connect("https://auth.example.com", Some(SecretString::from(secret))).unwrap();
        assert!(!format!("{remote:?}").contains(secret));
    }

    #[tokio::test]
    async fn unreachable_gateways_are_named() {
        // A port nothing listens on: bind one and let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let remote = Remote::connect(&url, Some(SecretString::from("t"))).unwrap();
        let err = remote.account_id().await.unwrap_err().to_string();
        assert!(err.starts_with(&format!("cannot reach {url}/:")), "{err}");
        assert!(!err.contains("Bearer"));
    }
}

#[cfg(test)]
mod options_tests {
    use crate::cli::{AdminCommand, Cli, logs::LogsCommand};
    use clap::Parser;
    use secrecy::ExposeSecret;

    #[test]
    fn url_and_token_are_options_of_every_admin_group() {
        let cli = Cli::try_parse_from([
            "portcullis",
            "logs",
            "access",
            "--follow",
            "--url",
            "https://auth.example.com",
            "--token",
            "tok",
            "--limit",
            "5",
        ])
        .unwrap();
        let (options, command) = cli.command.admin().unwrap();
        assert_eq!(options.url.as_deref(), Some("https://auth.example.com"));
        assert_eq!(options.token.as_ref().unwrap().expose_secret(), "tok");
        assert!(!format!("{options:?}").contains("tok\""), "{options:?}");
        assert!(matches!(
            command.follows(),
            Some(LogsCommand::Access { limit: 5, .. })
        ));
        let cli =
            Cli::try_parse_from(["portcullis", "apps", "--url", "http://a.localhost", "list"])
                .unwrap();
        let (options, command) = cli.command.admin().unwrap();
        assert!(options.url.is_some() && options.token.is_none());
        assert!(command.follows().is_none());
        assert!(matches!(command, AdminCommand::Apps(_)));
        assert!(
            Cli::try_parse_from(["portcullis", "logs", "scim", "--limit", "0"]).is_err(),
            "limits start at 1"
        );
    }
}
