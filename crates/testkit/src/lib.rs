//! Test support: start a whole gateway on random ports against the in-process demo identity
//! provider and the echo origin, and a browser-like HTTP client (cookie jar, `*.localhost`
//! resolved to loopback) to drive it. A new integration scenario should be a short function.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use portcullis::config::Config;
use portcullis::run::{Running, start_on};
pub use portcullis_demo::{Algorithm, DemoIdp, IdTokenHook, IdpOptions};
use tokio::net::TcpListener;

pub const TEAM: &str = "auth.localhost";
pub const APP: &str = "whoami.localhost";

/// How to set up a test gateway.
#[derive(Clone)]
pub struct Options {
    pub alg: Algorithm,
    pub pkce: bool,
    /// Use the discovery URL (true) or the three explicit URLs (false).
    pub discovery: bool,
    pub claims: Vec<String>,
    pub email_claim_name: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    /// TOML array of policies for the app.
    pub policies: String,
    /// Extra TOML lines for the application table.
    pub app_extra: String,
    /// A path for the application's domain (e.g. `/echo/*`); every path when empty.
    pub app_path: String,
    /// Log in automatically as this demo user.
    pub auto_login: Option<String>,
    /// Declare a second login method with this name (same demo IdP behind it).
    pub second_idp: Option<String>,
    /// Extra TOML lines for the `[server]` table.
    pub server_extra: String,
    /// The inside of `scim_config = { ... }` for the first login method (e.g.
    /// `enabled = true, secret = "…", user_deprovision = true`); no SCIM when `None`.
    pub scim: Option<String>,
    /// Extra top-level TOML (tables such as `[organization]`, `[[rule_groups]]`, `[[lists]]`,
    /// `[[policies]]`), placed after the application.
    pub top_extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            alg: Algorithm::Rs256,
            pkce: true,
            discovery: true,
            claims: vec!["employee_id".into(), "roles".into()],
            email_claim_name: None,
            token_endpoint_auth_method: None,
            policies: r#"[{ name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }] }]"#.into(),
            app_extra: String::new(),
            app_path: String::new(),
            auto_login: Some("alice".into()),
            second_idp: None,
            server_extra: String::new(),
            top_extra: String::new(),
            scim: None,
        }
    }
}

/// A running gateway with its IdP and origin.
pub struct TestGateway {
    pub running: Running,
    pub port: u16,
    pub idp: DemoIdp,
    pub idp_addr: SocketAddr,
    pub origin_addr: SocketAddr,
    pub data_dir: PathBuf,
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|c| format!("\"{c}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

impl TestGateway {
    pub async fn start(opts: Options) -> TestGateway {
        let gw_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = gw_listener.local_addr().unwrap().port();
        let idp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let idp_addr = idp_listener.local_addr().unwrap();
        let origin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin_addr = origin_listener.local_addr().unwrap();
        let issuer = format!("http://{idp_addr}");

        let mut idp_options = IdpOptions::demo(issuer.clone());
        idp_options.alg = opts.alg;
        idp_options.auto_login = opts.auto_login.clone();
        idp_options
            .redirect_uris
            .push(format!("http://{TEAM}:{port}/cdn-cgi/access/callback"));
        let idp = DemoIdp::new(idp_options).unwrap();
        tokio::spawn(portcullis_demo::serve(idp_listener, idp.router()));
        tokio::spawn(portcullis_demo::serve(
            origin_listener,
            portcullis_demo::origin_router(),
        ));

        let urls = if opts.discovery {
            format!("discovery_url = \"{issuer}/.well-known/openid-configuration\"")
        } else {
            format!(
                "auth_url = \"{issuer}/authorize\", token_url = \"{issuer}/token\", certs_url = \"{issuer}/jwks\", issuer = \"{issuer}\""
            )
        };
        let mut idp_config = format!(
            "client_id = \"{}\", client_secret = \"{}\", {urls}, pkce_enabled = {}, claims = {}",
            idp.client_id(),
            idp.client_secret(),
            opts.pkce,
            toml_list(&opts.claims)
        );
        if let Some(e) = &opts.email_claim_name {
            idp_config.push_str(&format!(", email_claim_name = \"{e}\""));
        }
        if let Some(m) = &opts.token_endpoint_auth_method {
            idp_config.push_str(&format!(", token_endpoint_auth_method = \"{m}\""));
        }
        let second_idp = match &opts.second_idp {
            Some(name) => format!(
                "[[identity_providers]]\nname = \"{name}\"\ntype = \"oidc\"\nconfig = {{ {idp_config} }}\n"
            ),
            None => String::new(),
        };
        let data_dir =
            std::env::temp_dir().join(format!("portcullis-test-{}", uuid::Uuid::new_v4()));
        let toml = format!(
            r#"
[server]
team_domain = "{TEAM}"
public_url = "http://{TEAM}:{port}"
data_dir = "{data_dir}"
{server_extra}

[[identity_providers]]
name = "Test IdP"
type = "oidc"
config = {{ {idp_config} }}
{scim}

{second_idp}
[[applications]]
name = "whoami"
domain = "{APP}{app_path}"
origin = "http://{origin_addr}"
policies = {policies}
{app_extra}

{top_extra}
"#,
            data_dir = data_dir.display(),
            policies = opts.policies,
            app_extra = opts.app_extra,
            app_path = opts.app_path,
            server_extra = opts.server_extra,
            top_extra = opts.top_extra,
            scim = opts
                .scim
                .as_deref()
                .map(|s| format!("scim_config = {{ {s} }}"))
                .unwrap_or_default(),
        );
        let config = Config::from_raw(Config::parse_toml(&toml, "test").unwrap(), &[]).unwrap();
        let running = start_on(config, Some(gw_listener)).await.unwrap();
        TestGateway {
            running,
            port,
            idp,
            idp_addr,
            origin_addr,
            data_dir,
        }
    }

    pub fn gateway(&self) -> &Arc<portcullis::Gateway> {
        &self.running.gateway
    }

    /// `http://<host>:<port><path>` on the gateway.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A new browser: its own cookie jar, following redirects, asking for HTML.
    pub fn browser(&self) -> reqwest::Client {
        self.client_builder()
            .default_headers(
                [(
                    reqwest::header::ACCEPT,
                    reqwest::header::HeaderValue::from_static("text/html"),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .unwrap()
    }

    /// A client that resolves our hosts, follows no redirects and keeps no cookies.
    pub fn raw_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .resolve(TEAM, self.addr())
            .resolve(APP, self.addr())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// A browser with a cookie jar that does not follow redirects, to look at each step.
    pub fn stepping_browser(&self) -> reqwest::Client {
        self.client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// A browser (cookie jar, HTML) that sends these extra headers on every request.
    pub fn browser_with(&self, headers: &[(&'static str, &str)]) -> reqwest::Client {
        let mut map = reqwest::header::HeaderMap::new();
        map.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("text/html"),
        );
        for (name, value) in headers {
            map.insert(
                *name,
                reqwest::header::HeaderValue::from_str(value).unwrap(),
            );
        }
        self.client_builder().default_headers(map).build().unwrap()
    }

    /// Creates a service token in the gateway's store and waits until the gateway has loaded
    /// it; returns (client id, client secret, token id).
    pub async fn service_token(&self, name: &str) -> (String, String, uuid::Uuid) {
        let gw = self.gateway();
        let issued = portcullis::service_tokens::create(
            gw.store.as_ref(),
            name,
            portcullis::service_tokens::Lifetime::For(portcullis::service_tokens::DEFAULT_DURATION),
            gw.clock.now(),
        )
        .await
        .unwrap();
        gw.resync().await;
        (
            issued.record.client_id,
            issued.client_secret,
            issued.record.id,
        )
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .cookie_store(true)
            .resolve(TEAM, self.addr())
            .resolve(APP, self.addr())
    }

    /// Logs in through the whole flow and returns the final response (the origin's page, or
    /// the error page where the flow stopped).
    pub async fn login(&self, browser: &reqwest::Client, path: &str) -> reqwest::Response {
        browser.get(self.url(APP, path)).send().await.unwrap()
    }

    /// Logs in with a fresh browser as the auto-login user and returns the app token.
    pub async fn app_token(&self) -> String {
        let browser = self
            .client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut url = self.url(APP, "/");
        for _ in 0..10 {
            let resp = browser
                .get(&url)
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            let Some(location) = resp.headers().get("location") else {
                break;
            };
            let next = location.to_str().unwrap().to_owned();
            if let Some(q) = next
                .split_once("/cdn-cgi/access/authorized?")
                .map(|(_, q)| q.to_owned())
            {
                let token = url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.into_owned());
                if let Some(t) = token {
                    return t;
                }
            }
            url = next;
        }
        panic!("login did not reach the authorized endpoint");
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
