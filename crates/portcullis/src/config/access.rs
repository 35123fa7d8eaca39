//! The access-control part of the configuration: the organization (seats, login page look),
//! reusable policies, rule groups and lists, and each application's policy list and per-app
//! cookie, CORS and service-token settings.
//!
//! Policies, rule groups and lists are validated together through [`Catalog`], so a reference to
//! a group or list that does not exist, or a Bypass policy with an identity rule hidden in a
//! group, is an error at start-up that names the key.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;
use portcullis_core::{Catalog, List, Policy, RuleGroup, parse_go_duration};
use serde::Deserialize;
use serde_json::Value;

use super::{ConfigError, invalid};

/// `[organization]`: settings that apply to every application.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrganization {
    /// Shown on the login and error pages.
    pub name: Option<String>,
    /// The most users that may hold a seat at once; none when absent.
    pub seat_limit: Option<u64>,
    /// Free the seat of users who have not logged in for this long (Go duration, at least
    /// `730h`); checked once a day.
    pub user_seat_expiration_inactive_time: Option<String>,
    #[serde(default)]
    pub login_design: RawLoginDesign,
}

/// `[organization.login_design]`, Cloudflare's field names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoginDesign {
    pub background_color: Option<String>,
    pub text_color: Option<String>,
    pub header_text: Option<String>,
    pub footer_text: Option<String>,
    /// A PNG, JPEG, GIF, WebP or SVG file; embedded in the pages (no external request).
    pub logo_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct OrganizationConfig {
    pub name: Option<String>,
    pub seat_limit: Option<u64>,
    pub seat_expiry: Option<Duration>,
    pub design: LoginDesign,
}

/// How the gateway's pages look; colours are checked CSS colours, the logo a `data:` URI.
#[derive(Debug, Clone, Default)]
pub struct LoginDesign {
    pub background_color: Option<String>,
    pub text_color: Option<String>,
    pub header_text: Option<String>,
    pub footer_text: Option<String>,
    pub logo_data_uri: Option<String>,
}

/// The smallest seat expiry Cloudflare accepts (about one month).
const MIN_SEAT_EXPIRY: Duration = Duration::from_secs(730 * 3600);

/// The largest logo embedded in every page.
const MAX_LOGO_BYTES: usize = 256 * 1024;

pub(super) fn organization(raw: RawOrganization) -> Result<OrganizationConfig, ConfigError> {
    let seat_expiry = raw
        .user_seat_expiration_inactive_time
        .as_deref()
        .map(|text| {
            let key = "organization.user_seat_expiration_inactive_time";
            let d = parse_go_duration(text).map_err(|e| invalid(key, e.to_string()))?;
            if d < MIN_SEAT_EXPIRY {
                return Err(invalid(key, "must be at least 730h (about one month)"));
            }
            Ok(d)
        })
        .transpose()?;
    if raw.seat_limit == Some(0) {
        return Err(invalid(
            "organization.seat_limit",
            "must be at least 1 (leave it out for no limit)",
        ));
    }
    let d = raw.login_design;
    let color = |key: &str, value: Option<String>| {
        value
            .map(|v| {
                let v = v.trim().to_owned();
                if is_css_color(&v) {
                    Ok(v)
                } else {
                    Err(invalid(
                        format!("organization.login_design.{key}"),
                        format!("`{v}` is not a colour; write e.g. \"#1e3a8a\""),
                    ))
                }
            })
            .transpose()
    };
    let logo_data_uri = d.logo_path.map(|p| logo_uri(&p)).transpose()?;
    Ok(OrganizationConfig {
        name: raw.name.filter(|n| !n.trim().is_empty()),
        seat_limit: raw.seat_limit,
        seat_expiry,
        design: LoginDesign {
            background_color: color("background_color", d.background_color)?,
            text_color: color("text_color", d.text_color)?,
            header_text: d.header_text,
            footer_text: d.footer_text,
            logo_data_uri,
        },
    })
}

/// `#rgb`, `#rrggbb`, `#rrggbbaa` or a plain colour name: nothing that could close the style.
fn is_css_color(v: &str) -> bool {
    match v.strip_prefix('#') {
        Some(hex) => {
            [3, 4, 6, 8].contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_alphabetic()),
    }
}

fn logo_uri(path: &std::path::Path) -> Result<String, ConfigError> {
    use base64::Engine;
    let key = "organization.login_design.logo_path";
    let bytes = std::fs::read(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(invalid(
            key,
            format!("{} is larger than 256 KiB", path.display()),
        ));
    }
    let mime = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        _ => {
            return Err(invalid(
                key,
                "must be a .png, .jpg, .gif, .webp or .svg file",
            ));
        }
    };
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Validates rule groups and lists into the catalog every policy is checked against.
pub(crate) fn catalog(groups: Vec<RuleGroup>, lists: Vec<List>) -> Result<Catalog, ConfigError> {
    Catalog::new(groups, lists).map_err(|e| invalid("rule_groups / lists", e.to_string()))
}

/// `[[policies]]`: reusable policies, each with an `id` that applications reference.
pub(crate) fn reusable_policies(
    raw: Vec<Value>,
    catalog: &Catalog,
) -> Result<HashMap<String, Policy>, ConfigError> {
    let mut out = HashMap::new();
    for (i, value) in raw.into_iter().enumerate() {
        let key = format!("policies[{i}]");
        let Value::Object(mut map) = value else {
            return Err(invalid(key, "must be a table"));
        };
        let id = match map.remove("id") {
            Some(Value::String(id)) if !id.trim().is_empty() => id,
            _ => {
                return Err(invalid(
                    format!("{key}.id"),
                    "a reusable policy needs an `id` (a short name applications refer to)",
                ));
            }
        };
        let policy: Policy = serde_json::from_value(Value::Object(map))
            .map_err(|e| invalid(key.clone(), e.to_string()))?;
        catalog
            .validate_policy(&policy)
            .map_err(|e| invalid(key.clone(), e.to_string()))?;
        if out.insert(id.clone(), policy).is_some() {
            return Err(invalid(
                format!("{key}.id"),
                format!("`{id}` is used twice; ids must be unique"),
            ));
        }
    }
    Ok(out)
}

/// The `[admin]` table: who may use the web admin UI.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Written like an application's `policies` (inline policies and references to reusable
    /// ones); an administrator is a signed-in user they allow.
    #[serde(default)]
    pub policies: Vec<Value>,
}

/// Validates `[admin] policies` as an application's are validated.
pub(super) fn admin_policies(
    raw: RawAdmin,
    reusable: &HashMap<String, Policy>,
    catalog: &Catalog,
) -> Result<Vec<Policy>, ConfigError> {
    app_policies("admin", raw.policies, reusable, catalog)
}

/// An application's `policies`: inline policies and references `{ id = "…", precedence = n }`
/// to reusable ones, in the order they are evaluated (by `precedence` when every entry has one,
/// otherwise as written).
/// The reusable policy an entry of an application's `policies` refers to: an entry with an `id`
/// and no `decision` is a reference, anything else an inline policy.
pub(crate) fn reference_id(entry: &serde_json::Map<String, Value>) -> Option<&str> {
    if entry.contains_key("decision") {
        return None;
    }
    entry.get("id").and_then(Value::as_str)
}

pub(crate) fn app_policies(
    app_key: &str,
    raw: Vec<Value>,
    reusable: &HashMap<String, Policy>,
    catalog: &Catalog,
) -> Result<Vec<Policy>, ConfigError> {
    let mut entries: Vec<(Option<u64>, Policy)> = Vec::with_capacity(raw.len());
    for (j, value) in raw.into_iter().enumerate() {
        let key = super::field_key(app_key, &format!("policies[{j}]"));
        let Value::Object(mut map) = value else {
            return Err(invalid(key, "must be a table: a policy, or { id = \"…\" }"));
        };
        let precedence = match map.remove("precedence") {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(_) => {
                return Err(invalid(
                    format!("{key}.precedence"),
                    "must be a whole number (lower runs first)",
                ));
            }
        };
        let is_reference = reference_id(&map).is_some();
        let policy = if is_reference {
            let id = match map.remove("id") {
                Some(Value::String(id)) => id,
                _ => return Err(invalid(format!("{key}.id"), "must be a string")),
            };
            if let Some(extra) = map.keys().next() {
                return Err(invalid(
                    key,
                    format!(
                        "a reference to a reusable policy holds only `id` and `precedence`, \
                         not `{extra}`"
                    ),
                ));
            }
            match reusable.get(&id) {
                Some(p) => p.clone(),
                None => {
                    let mut known: Vec<&str> = reusable.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    return Err(invalid(
                        format!("{key}.id"),
                        format!("`{id}` is not a reusable policy; declared: {known:?}"),
                    ));
                }
            }
        } else {
            let policy: Policy = serde_json::from_value(Value::Object(map))
                .map_err(|e| invalid(key.clone(), e.to_string()))?;
            catalog
                .validate_policy(&policy)
                .map_err(|e| invalid(key.clone(), e.to_string()))?;
            policy
        };
        entries.push((precedence, policy));
    }
    let with_precedence = entries.iter().filter(|(p, _)| p.is_some()).count();
    if with_precedence > 0 && with_precedence < entries.len() {
        return Err(invalid(
            super::field_key(app_key, "policies"),
            "give `precedence` to every policy of the application or to none",
        ));
    }
    if with_precedence > 0 {
        let mut seen = std::collections::HashSet::new();
        for (p, _) in &entries {
            if !seen.insert(*p) {
                return Err(invalid(
                    super::field_key(app_key, "policies"),
                    format!("precedence {} is used twice", p.unwrap_or_default()),
                ));
            }
        }
        entries.sort_by_key(|(p, _)| *p);
    }
    Ok(entries.into_iter().map(|(_, p)| p).collect())
}

/// `cors_headers` of an application, Cloudflare's field names.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub allow_all_origins: bool,
    #[serde(default)]
    pub allow_all_methods: bool,
    #[serde(default)]
    pub allow_all_headers: bool,
    #[serde(default)]
    pub allow_credentials: bool,
    /// Seconds a browser may cache the preflight answer.
    pub max_age: Option<u32>,
}

/// How the gateway answers CORS preflight requests for an application.
#[derive(Debug, Clone, Default)]
pub struct CorsConfig {
    /// Lower-case `scheme://host[:port]` values; empty with `allow_all_origins`.
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<http::Method>,
    pub allowed_headers: Vec<HeaderName>,
    pub allow_all_origins: bool,
    pub allow_all_methods: bool,
    pub allow_all_headers: bool,
    pub allow_credentials: bool,
    pub max_age: Option<u32>,
}

impl CorsConfig {
    /// Whether a request from `origin` may read responses.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allow_all_origins
            || self
                .allowed_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
    }
}

pub(super) fn cors(app_key: &str, raw: RawCors) -> Result<CorsConfig, ConfigError> {
    let key = |k: &str| super::field_key(app_key, &format!("cors_headers.{k}"));
    let mut allowed_origins = Vec::new();
    for (i, o) in raw.allowed_origins.iter().enumerate() {
        let url = url::Url::parse(o).map_err(|_| {
            invalid(
                key(&format!("allowed_origins[{i}]")),
                format!("`{o}` is not an origin; write e.g. \"https://app.example.com\""),
            )
        })?;
        allowed_origins.push(url.origin().ascii_serialization());
    }
    let allowed_methods = raw
        .allowed_methods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            http::Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
                .map_err(|_| invalid(key(&format!("allowed_methods[{i}]")), "not an HTTP method"))
        })
        .collect::<Result<_, _>>()?;
    let allowed_headers = raw
        .allowed_headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            HeaderName::from_bytes(h.trim().as_bytes())
                .map_err(|_| invalid(key(&format!("allowed_headers[{i}]")), "not a header name"))
        })
        .collect::<Result<_, _>>()?;
    if raw.allow_all_origins && raw.allow_credentials {
        return Err(invalid(
            key("allow_credentials"),
            "cannot be combined with allow_all_origins: browsers refuse credentials with `*`; \
             list the origins instead",
        ));
    }
    if !raw.allow_all_origins && raw.allowed_origins.is_empty() {
        return Err(invalid(
            key("allowed_origins"),
            "list at least one origin, or set allow_all_origins = true",
        ));
    }
    Ok(CorsConfig {
        allowed_origins,
        allowed_methods,
        allowed_headers,
        allow_all_origins: raw.allow_all_origins,
        allow_all_methods: raw.allow_all_methods,
        allow_all_headers: raw.allow_all_headers,
        allow_credentials: raw.allow_credentials,
        max_age: raw.max_age,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn staff() -> Value {
        json!({"name": "staff", "decision": "allow",
               "include": [{"email_domain": {"domain": "example.com"}}]})
    }

    #[test]
    fn admin_policies_validate_like_an_applications() {
        let catalog = Catalog::empty();
        let none = admin_policies(RawAdmin::default(), &HashMap::new(), &catalog).unwrap();
        assert!(none.is_empty());
        let one = admin_policies(
            RawAdmin {
                policies: vec![staff()],
            },
            &HashMap::new(),
            &catalog,
        )
        .unwrap();
        assert_eq!(one[0].name, "staff");
        let err = admin_policies(
            RawAdmin {
                policies: vec![json!({"id": "nope"})],
            },
            &HashMap::new(),
            &catalog,
        )
        .unwrap_err();
        assert!(err.to_string().contains("admin.policies[0].id"), "{err}");
    }

    #[test]
    fn references_resolve_and_precedence_orders() {
        let catalog = Catalog::empty();
        let mut reusable_raw = staff();
        reusable_raw["id"] = json!("staff");
        let reusable = reusable_policies(vec![reusable_raw], &catalog).unwrap();
        let block = json!({"name": "block bob", "decision": "deny", "precedence": 1,
                           "include": [{"email": {"email": "bob@example.com"}}]});
        let list = app_policies(
            "applications[0]",
            vec![json!({"id": "staff", "precedence": 2}), block],
            &reusable,
            &catalog,
        )
        .unwrap();
        let names: Vec<&str> = list.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["block bob", "staff"]);
    }

    #[test]
    fn unknown_reference_names_the_known_ones() {
        let err = app_policies(
            "applications[0]",
            vec![json!({"id": "nope"})],
            &HashMap::new(),
            &Catalog::empty(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("applications[0].policies[0].id"), "{err}");
        assert!(err.contains("`nope` is not a reusable policy"), "{err}");
    }

    #[test]
    fn precedence_on_some_only_is_refused() {
        let mut with = staff();
        with["precedence"] = json!(1);
        let err = app_policies(
            "applications[0]",
            vec![with, staff()],
            &HashMap::new(),
            &Catalog::empty(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("to every policy"), "{err}");
    }

    #[test]
    fn a_policy_referencing_a_missing_group_is_refused() {
        let p = json!({"name": "eng", "decision": "allow", "include": [{"group": {"id": "eng"}}]});
        let err = app_policies(
            "applications[0]",
            vec![p],
            &HashMap::new(),
            &Catalog::empty(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("eng"), "{err}");
    }

    #[test]
    fn colours_are_checked() {
        assert!(is_css_color("#1e3a8a"));
        assert!(is_css_color("white"));
        assert!(!is_css_color("red;}body{display:none"));
        assert!(!is_css_color("#12345"));
    }

    #[test]
    fn cors_refuses_credentials_with_any_origin() {
        let raw = RawCors {
            allow_all_origins: true,
            allow_credentials: true,
            ..RawCors::default()
        };
        assert!(cors("applications[0]", raw).is_err());
        let ok = cors(
            "applications[0]",
            RawCors {
                allowed_origins: vec!["https://App.example.com/".into()],
                allowed_methods: vec!["get".into()],
                ..RawCors::default()
            },
        )
        .unwrap();
        assert!(ok.allows_origin("https://app.example.com"));
        assert!(!ok.allows_origin("https://evil.example.com"));
    }

    /// The README's TOML examples are real: the complete example, then the reusable-objects
    /// example added to it, load without error.
    #[test]
    fn readme_examples_load() {
        let readme = include_str!("../../../../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .collect();
        assert!(blocks.len() >= 2, "README lost its TOML examples");
        let combined = blocks.join("\n");
        let raw = crate::Config::parse_toml(&combined, "README.md").unwrap();
        let config = crate::Config::from_raw(raw, &[]).unwrap();
        let grafana = config
            .applications
            .iter()
            .find(|a| a.name == "grafana")
            .unwrap();
        let names: Vec<&str> = grafana.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["CI", "Engineers with MFA"],
            "precedence orders the policies"
        );
    }
}
