//! `portcullis demo`: the gateway on SQLite, a built-in demo OpenID Connect provider and a demo
//! origin, in one process, so a newcomer can log in through an IdP and reach a protected app
//! with one command. The demo IdP is a real OIDC provider (discovery, JWKS, code flow, PKCE) with
//! two demo users; it is NOT for production.

use std::net::SocketAddr;
use std::path::PathBuf;

use portcullis_demo::{Algorithm, DemoIdp, IdpOptions, origin_router};
use tokio::net::TcpListener;

use crate::config::Config;

/// What `portcullis demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub idp_alg: Algorithm,
}

/// The demo's gateway configuration, in the same TOML an operator writes.
pub fn demo_config_toml(
    port: u16,
    data_dir: &std::path::Path,
    issuer: &str,
    client_secret: &str,
) -> String {
    format!(
        r#"
[server]
team_domain = "auth.localhost"
listen = "127.0.0.1:{port}"
public_url = "http://auth.localhost:{port}"
data_dir = "{data_dir}"

[[identity_providers]]
id = "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c"
name = "Demo IdP (not for production)"
type = "oidc"
config = {{ client_id = "{client_id}", client_secret = "{client_secret}", discovery_url = "{issuer}/.well-known/openid-configuration", pkce_enabled = true, claims = ["employee_id", "roles"] }}

[[applications]]
name = "whoami"
domain = "whoami.localhost"
origin = "ORIGIN"
policies = [{{ name = "staff", decision = "allow", include = [{{ email_domain = {{ domain = "example.com" }} }}] }}]

[admin]
policies = [{{ name = "demo admins", decision = "allow", include = [{{ oidc = {{ claim_name = "groups", claim_value = "admins" }} }}] }}]
"#,
        data_dir = data_dir
            .display()
            .to_string()
            .replace('\\', "/")
            .replace('"', "\\\""),
        client_id = portcullis_demo::DEMO_CLIENT_ID,
    )
}

/// Runs the demo until the process is stopped.
pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let gateway_listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", opts.listen))?;
    let port = gateway_listener.local_addr()?.port();
    let idp_listener = TcpListener::bind("127.0.0.1:0").await?;
    let origin_listener = TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://127.0.0.1:{}", idp_listener.local_addr()?.port());
    let origin = format!("http://127.0.0.1:{}", origin_listener.local_addr()?.port());

    let mut idp_options = IdpOptions::demo(issuer.clone());
    idp_options.alg = opts.idp_alg;
    idp_options.client_secret = crate::seal::random_token::<24>()?;
    idp_options.redirect_uris.push(format!(
        "http://auth.localhost:{port}/cdn-cgi/access/callback"
    ));
    let secret = idp_options.client_secret.clone();
    let idp = DemoIdp::new(idp_options)?;
    tokio::spawn(portcullis_demo::serve(idp_listener, idp.router()));
    tokio::spawn(portcullis_demo::serve(origin_listener, origin_router()));

    let toml = demo_config_toml(port, &opts.data_dir, &issuer, &secret).replace("ORIGIN", &origin);
    let config = Config::from_raw(Config::parse_toml(&toml, "demo configuration")?, &[])?;
    let running = crate::run::start_on(config, Some(gateway_listener)).await?;

    println!();
    println!(
        "  Portcullis demo is running (SQLite in {}).",
        opts.data_dir.display()
    );
    println!();
    println!("  Open   http://whoami.localhost:{port}/   in a browser.");
    println!("  Sign in as alice / alice (alice@example.com, allowed by the `staff` policy)");
    println!("          or bob / bob     (bob@example.org, refused: see the block page).");
    println!();
    println!(
        "  Admin UI:     http://auth.localhost:{port}/admin   (alice is an admin: group `admins`)"
    );
    println!("  Team domain:  http://auth.localhost:{port}/cdn-cgi/access/certs");
    println!("  Demo IdP:     {issuer}/.well-known/openid-configuration  (NOT for production)");
    println!("  Demo origin:  {origin}");
    println!();
    println!("  Stop with Ctrl-C.");
    println!();
    running.wait().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo's configuration is valid and makes alice (group `admins`) an administrator.
    #[test]
    fn demo_configuration_loads_with_an_admin_policy() {
        let toml = demo_config_toml(
            8080,
            std::path::Path::new("/tmp/demo"),
            "http://127.0.0.1:1",
            "s3cret-s3cret-s3cret",
        )
        .replace("ORIGIN", "http://127.0.0.1:2");
        let config = Config::from_raw(Config::parse_toml(&toml, "demo").unwrap(), &[]).unwrap();
        assert_eq!(config.applications.len(), 1);
        assert_eq!(config.admin_policies.len(), 1);
        assert_eq!(config.admin_policies[0].name, "demo admins");
    }
}
