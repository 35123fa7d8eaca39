//! `/admin/login-methods`: each login method with its type, SCIM status and endpoint, a **Test**
//! link that runs the real login flow in a new window (`idp_test`), and regenerating the SCIM
//! secret (shown once). Login methods made here are added, edited and deleted through forms;
//! those declared in the configuration file are shown read-only.
//!
//! The form's **Fetch** fills the issuer, endpoints and scopes from the identity provider's
//! discovery document (`discovery`), read by the gateway: no JavaScript is involved.

use askama::Template;
use http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Ask;
use super::discovery::{self, Discovered};
use super::editing::{self, Errors, words};
use super::page::{self, Chrome, Confirm, PageError, PageResult};
use crate::gateway::LoginMethod;
use crate::objects::edit::EditError;
use crate::objects::{Kind, public_declaration};
use crate::respond::Branding;

const LIST: &str = "/admin/login-methods";
/// The scopes asked for when none are given.
const DEFAULT_SCOPES: &str = "openid email profile";

struct Row {
    id: Uuid,
    name: String,
    kind: &'static str,
    client_id: String,
    issuer: String,
    scim_endpoint: Option<String>,
    test_url: String,
    read_only: bool,
}

#[derive(Template)]
#[template(path = "admin/login_methods.html")]
struct ListPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    rows: Vec<Row>,
    notice: Option<String>,
    error: Option<String>,
    left_out: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/scim_secret.html")]
struct SecretPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    name: &'a str,
    endpoint: &'a str,
    secret: &'a str,
}

/// The login method form's values, as typed.
struct MethodForm {
    name: String,
    client_id: String,
    client_secret: String,
    discovery_url: String,
    issuer: String,
    auth_url: String,
    token_url: String,
    certs_url: String,
    scopes: String,
    pkce: bool,
    email_claim_name: String,
    claims: String,
    token_auth: String,
    scim_enabled: bool,
    user_deprovision: bool,
    seat_deprovision: bool,
    identity_update: String,
}

/// What a Fetch found, as the form shows it.
struct DiscoveryNote {
    url: String,
    scopes_supported: String,
    claims_supported: String,
}

#[derive(Template)]
#[template(path = "admin/login_method_form.html")]
struct FormPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    heading: String,
    /// Where the form posts (`/admin/login-methods/new` or the method's path).
    action: String,
    /// The method's path segment, when it exists.
    id: Option<String>,
    read_only: bool,
    /// Whether a client secret is stored (blank then keeps it).
    has_secret: bool,
    f: MethodForm,
    errors: Errors,
    discovered: Option<DiscoveryNote>,
    scim_endpoint: Option<String>,
}

/// Routes `/admin/login-methods/…`.
pub(crate) async fn route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => list(ask, StatusCode::OK, None),
        (["new"], false) => form(ask, None, MethodForm::blank(), Errors::default(), None),
        (["new"], true) => submit(ask, None).await,
        ([id], false) => {
            let m = find(ask, id)?;
            let f = MethodForm::of(&m);
            form(ask, Some(&m), f, Errors::default(), None)
        }
        ([id], true) => submit(ask, Some(&*find(ask, id)?)).await,
        ([id, "delete"], true) => delete(ask, &*find(ask, id)?).await,
        ([id, "scim-secret"], true) => regenerate(ask, &*find(ask, id)?).await,
        _ => Err(PageError::NotFound),
    }
}

fn find(ask: &Ask<'_>, id: &str) -> Result<std::sync::Arc<LoginMethod>, PageError> {
    let id = Uuid::parse_str(id).map_err(|_| PageError::NotFound)?;
    ask.gw
        .snapshot
        .load()
        .login_methods
        .iter()
        .find(|m| m.id.0 == id)
        .cloned()
        .ok_or(PageError::NotFound)
}

fn scim_endpoint(ask: &Ask<'_>, id: Uuid) -> String {
    ask.gw.team_url(&format!("/scim/{id}/v2"))
}

fn list(ask: &Ask<'_>, status: StatusCode, error: Option<String>) -> PageResult {
    let gw = ask.gw;
    let methods = gw.snapshot.load().login_methods.clone();
    let mut rows = Vec::with_capacity(methods.len());
    for m in &methods {
        let c = m.provider.config();
        rows.push(Row {
            id: m.id.0,
            name: m.name.clone(),
            kind: m.kind(),
            client_id: c.client_id.clone(),
            issuer: c
                .issuer
                .clone()
                .or_else(|| c.discovery_url.as_ref().map(|u| u.to_string()))
                .unwrap_or_default(),
            scim_endpoint: m.scim.as_ref().map(|_| scim_endpoint(ask, m.id.0)),
            // A fresh ten-minute link each time the page is shown.
            test_url: crate::idp_test::ticket_url(gw, m.id.0).map_err(PageError::internal)?,
            read_only: m.read_only,
        });
    }
    page::render(
        status,
        &ListPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            rows,
            notice: editing::done_notice(ask, "login method"),
            error,
            left_out: editing::left_out(ask, Kind::LoginMethod),
        },
        &ask.ctx.request_id,
    )
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn text_list(v: &Value, key: &str, separator: &str) -> String {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(separator)
        })
        .unwrap_or_default()
}

impl MethodForm {
    fn blank() -> Self {
        MethodForm {
            name: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            discovery_url: String::new(),
            issuer: String::new(),
            auth_url: String::new(),
            token_url: String::new(),
            certs_url: String::new(),
            scopes: DEFAULT_SCOPES.to_owned(),
            pkce: true,
            email_claim_name: "email".to_owned(),
            claims: String::new(),
            token_auth: "client_secret_basic".to_owned(),
            scim_enabled: false,
            user_deprovision: false,
            seat_deprovision: false,
            identity_update: "no_action".to_owned(),
        }
    }

    /// A stored login method's values (its declaration, never its secret).
    fn of(m: &LoginMethod) -> Self {
        let d = public_declaration(&m.declaration);
        let c = d.get("config").cloned().unwrap_or(Value::Null);
        let s = d.get("scim_config").cloned().unwrap_or(Value::Null);
        let flag = |v: &Value, k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        let scopes = text_list(&c, "scopes", " ");
        MethodForm {
            name: m.name.clone(),
            client_id: text(&c, "client_id"),
            client_secret: String::new(),
            discovery_url: text(&c, "discovery_url"),
            issuer: text(&c, "issuer"),
            auth_url: text(&c, "auth_url"),
            token_url: text(&c, "token_url"),
            certs_url: text(&c, "certs_url"),
            scopes: if scopes.is_empty() {
                DEFAULT_SCOPES.to_owned()
            } else {
                scopes
            },
            pkce: flag(&c, "pkce_enabled"),
            email_claim_name: match text(&c, "email_claim_name") {
                e if e.is_empty() => "email".to_owned(),
                e => e,
            },
            claims: text_list(&c, "claims", ", "),
            token_auth: match text(&c, "token_endpoint_auth_method") {
                t if t.is_empty() => "client_secret_basic".to_owned(),
                t => t,
            },
            scim_enabled: flag(&s, "enabled"),
            user_deprovision: flag(&s, "user_deprovision"),
            seat_deprovision: flag(&s, "seat_deprovision"),
            identity_update: match text(&s, "identity_update_behavior") {
                b if b.is_empty() || b == "noaction" => "no_action".to_owned(),
                b => b,
            },
        }
    }

    fn from_form(ask: &Ask<'_>) -> Self {
        let field = |k: &str| ask.field(k).to_owned();
        let ticked = |k: &str| editing::ticked(ask, k);
        MethodForm {
            name: field("name"),
            client_id: field("client_id"),
            client_secret: field("client_secret"),
            discovery_url: field("discovery_url"),
            issuer: field("issuer"),
            auth_url: field("auth_url"),
            token_url: field("token_url"),
            certs_url: field("certs_url"),
            scopes: field("scopes"),
            pkce: ticked("pkce_enabled"),
            email_claim_name: field("email_claim_name"),
            claims: field("claims"),
            token_auth: field("token_endpoint_auth_method"),
            scim_enabled: ticked("scim_enabled"),
            user_deprovision: ticked("user_deprovision"),
            seat_deprovision: ticked("seat_deprovision"),
            identity_update: field("identity_update_behavior"),
        }
    }

    /// The declaration to save (the configuration file's shape). A blank secret is left out,
    /// which keeps the stored one.
    fn declaration(&self) -> Value {
        let mut config = Map::new();
        config.insert("client_id".into(), json!(self.client_id));
        let optional = [
            ("client_secret", &self.client_secret),
            ("discovery_url", &self.discovery_url),
            ("issuer", &self.issuer),
            ("auth_url", &self.auth_url),
            ("token_url", &self.token_url),
            ("certs_url", &self.certs_url),
            ("email_claim_name", &self.email_claim_name),
            ("token_endpoint_auth_method", &self.token_auth),
        ];
        for (key, value) in optional {
            if !value.is_empty() {
                config.insert(key.into(), json!(value));
            }
        }
        let scopes = words(&self.scopes);
        if !scopes.is_empty() {
            config.insert("scopes".into(), json!(scopes));
        }
        config.insert("pkce_enabled".into(), json!(self.pkce));
        config.insert("claims".into(), json!(words(&self.claims)));
        let mut scim = json!({
            "enabled": self.scim_enabled,
            "user_deprovision": self.user_deprovision,
            "seat_deprovision": self.seat_deprovision,
        });
        if !self.identity_update.is_empty() {
            scim["identity_update_behavior"] = json!(self.identity_update);
        }
        json!({
            "name": self.name,
            "type": "oidc",
            "config": config,
            "scim_config": scim,
        })
    }

    /// Fills what a discovery document says: the issuer and endpoints; the scopes when they are
    /// still the default; the client authentication when the provider does not offer the one
    /// chosen.
    fn fill(&mut self, d: &Discovered) {
        if self.discovery_url.is_empty() {
            self.discovery_url = d.url.clone();
        }
        self.issuer = d.issuer.clone();
        self.auth_url = d.authorization_endpoint.clone();
        self.token_url = d.token_endpoint.clone();
        self.certs_url = d.jwks_uri.clone();
        if self.scopes.is_empty() || words(&self.scopes) == words(DEFAULT_SCOPES) {
            self.scopes = d.suggested_scopes().join(" ");
        }
        if !d.auth_methods.is_empty() && !d.auth_methods.contains(&self.token_auth) {
            self.token_auth = d.auth_method().to_owned();
        }
    }
}

/// The form field a validation message's key names.
fn field_for(key: Option<&str>, _message: &str) -> Option<String> {
    let field = match key? {
        "name" => "name",
        "config.client_id" => "client_id",
        "config.client_secret" => "client_secret",
        "config.discovery_url" => "discovery_url",
        "config.issuer" => "issuer",
        "config.auth_url" => "auth_url",
        "config.token_url" => "token_url",
        "config.certs_url" => "certs_url",
        "config.scopes" => "scopes",
        "config.email_claim_name" => "email_claim_name",
        "config.claims" => "claims",
        "config.token_endpoint_auth_method" => "token_endpoint_auth_method",
        "scim_config.enabled" => "scim_enabled",
        "scim_config.user_deprovision" => "user_deprovision",
        "scim_config.seat_deprovision" => "seat_deprovision",
        "scim_config.identity_update_behavior" => "identity_update_behavior",
        _ => return None,
    };
    Some(field.to_owned())
}

fn form(
    ask: &Ask<'_>,
    method: Option<&LoginMethod>,
    f: MethodForm,
    errors: Errors,
    discovered: Option<DiscoveryNote>,
) -> PageResult {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let (heading, action) = match method {
        Some(m) if m.read_only => (m.name.clone(), format!("{LIST}/{}", m.id.0)),
        Some(m) => (format!("Edit {}", m.name), format!("{LIST}/{}", m.id.0)),
        None => ("Add a login method".to_owned(), format!("{LIST}/new")),
    };
    page::render(
        status,
        &FormPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            heading,
            action,
            id: method.map(|m| m.id.0.to_string()),
            read_only: method.is_some_and(|m| m.read_only),
            has_secret: method.is_some(),
            f,
            errors,
            discovered,
            scim_endpoint: method
                .filter(|m| m.scim.is_some())
                .map(|m| scim_endpoint(ask, m.id.0)),
        },
        &ask.ctx.request_id,
    )
}

/// A POST of the form: **Fetch** fills it from the discovery document; **Save** saves it.
async fn submit(ask: &Ask<'_>, method: Option<&LoginMethod>) -> PageResult {
    let mut f = MethodForm::from_form(ask);
    let mut errors = Errors::default();
    if ask.field("action") == "fetch" {
        let found = match discovery::location(&f.discovery_url, &f.issuer) {
            Ok(url) => discovery::fetch(&ask.gw.http, url).await,
            Err(e) => Err(e),
        };
        let note = match found {
            Ok(d) => {
                f.fill(&d);
                Some(DiscoveryNote {
                    url: d.url.clone(),
                    scopes_supported: d.scopes_supported.join(" "),
                    claims_supported: d.claims_supported.join(" "),
                })
            }
            Err(e) => {
                errors.add("discovery_url", e.to_string());
                None
            }
        };
        return form(ask, method, f, errors, note);
    }
    let id = method.map(|m| m.id.0.to_string());
    match ask
        .gw
        .save_object(Kind::LoginMethod, id.as_deref(), f.declaration())
        .await
    {
        Ok(saved) => {
            let Some(secret) = saved.scim_secret else {
                let done = if saved.created { "created" } else { "saved" };
                return page::see_other(ask.gw, &format!("{LIST}?done={done}"));
            };
            let id = Uuid::parse_str(&saved.id).map_err(PageError::internal)?;
            page::render(
                StatusCode::OK,
                &SecretPage {
                    brand: &ask.gw.branding,
                    chrome: ask.chrome,
                    name: &f.name,
                    endpoint: &scim_endpoint(ask, id),
                    secret: &secret,
                },
                &ask.ctx.request_id,
            )
        }
        Err(e) => {
            editing::absorb(&mut errors, e, &field_for)?;
            form(ask, method, f, errors, None)
        }
    }
}

async fn delete(ask: &Ask<'_>, method: &LoginMethod) -> PageResult {
    let path = format!("{LIST}/{}/delete", method.id.0);
    if !ask.confirmed() {
        return page::confirm(
            ask.chrome,
            &Confirm {
                question: &format!("Delete the login method “{}”?", method.name),
                consequence: "Nobody can sign in with it any more, and its SCIM endpoint stops answering. An application that allows it must be changed first.",
                action: &path,
                button: "Delete the login method",
                hidden: Vec::new(),
                cancel: LIST,
            },
        );
    }
    match ask
        .gw
        .delete_object(Kind::LoginMethod, &method.id.0.to_string())
        .await
    {
        Ok(()) => page::see_other(ask.gw, &format!("{LIST}?done=deleted")),
        Err(EditError::Invalid(m) | EditError::ReadOnly(m)) => list(
            ask,
            StatusCode::CONFLICT,
            Some(format!("“{}” was not deleted: {m}", method.name)),
        ),
        Err(EditError::NotFound(_)) => Err(PageError::NotFound),
        Err(EditError::Store(e)) => Err(PageError::Store(e)),
        Err(e) => Err(PageError::internal(e)),
    }
}

async fn regenerate(ask: &Ask<'_>, method: &LoginMethod) -> PageResult {
    let gw = ask.gw;
    let id = method.id.0;
    if method.scim.is_none() {
        return Err(PageError::BadRequest(format!(
            "SCIM is not enabled for {}",
            method.name
        )));
    }
    if !ask.confirmed() {
        return page::confirm(
            ask.chrome,
            &Confirm {
                question: &format!("Regenerate the SCIM secret of {}?", method.name),
                consequence: "The current secret stops working at once: the identity provider's provisioning fails until you paste the new secret into it.",
                action: &format!("{LIST}/{id}/scim-secret"),
                button: "Regenerate the secret",
                hidden: Vec::new(),
                cancel: LIST,
            },
        );
    }
    let secret = crate::scim_sync::regenerate_secret(gw.store.as_ref(), id)
        .await
        .map_err(PageError::internal)?;
    page::render(
        StatusCode::OK,
        &SecretPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            name: &method.name,
            endpoint: &scim_endpoint(ask, id),
            secret: &secret,
        },
        &ask.ctx.request_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declaration_leaves_out_what_is_blank() {
        let mut f = MethodForm::blank();
        f.name = "Okta".into();
        f.client_id = "cid".into();
        f.discovery_url = "https://idp.example/.well-known/openid-configuration".into();
        f.claims = "groups, employee_id".into();
        let d = f.declaration();
        assert_eq!(d["type"], "oidc");
        assert!(d["config"].get("client_secret").is_none());
        assert!(d["config"].get("issuer").is_none());
        assert_eq!(d["config"]["scopes"], json!(["openid", "email", "profile"]));
        assert_eq!(d["config"]["claims"], json!(["groups", "employee_id"]));
        assert_eq!(d["config"]["pkce_enabled"], true);
        assert_eq!(d["scim_config"]["enabled"], false);
        assert_eq!(d["scim_config"]["identity_update_behavior"], "no_action");
    }

    #[test]
    fn validation_keys_map_to_form_fields() {
        assert_eq!(
            field_for(Some("config.client_secret"), "").as_deref(),
            Some("client_secret")
        );
        assert_eq!(
            field_for(Some("scim_config.seat_deprovision"), "").as_deref(),
            Some("seat_deprovision")
        );
        assert_eq!(field_for(Some("config"), ""), None);
    }
}
