//! Application domains: which host and path an application covers, and which application a
//! request belongs to.
//!
//! Follows Cloudflare's app path rules: a domain is a host with an optional path; a `*` stands for
//! any run of characters within one host label or (in the path) across segments; a path without a
//! wildcard covers itself and everything below it; the most specific application wins.
//! Hosts compare case-insensitively, paths case-sensitively (as URLs do).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, excerpt};

/// Longest accepted host (the DNS limit).
const MAX_HOST_LEN: usize = 253;
/// Longest accepted path in a pattern; keeps matching cost bounded.
const MAX_PATH_LEN: usize = 1024;

/// A parsed application domain such as `app.example.com`, `*.example.com` or
/// `example.com/alpha/*`.
///
/// Equality is on the canonical form: `example.com`, `example.com/` and `example.com/*` are the
/// same domain (all paths), and the host is lowercase.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainPattern {
    /// Lowercase host, possibly with one `*` per label (never in the last label).
    host: String,
    /// `None` covers every path; otherwise the path as written, starting with `/`.
    path: Option<String>,
    /// The same path followed by `/*` (or `*` after a trailing `/`): what "and everything below"
    /// adds. `None` when the path already ends with a wildcard.
    subtree: Option<String>,
}

impl DomainPattern {
    /// Parses a domain from configuration or the admin API.
    ///
    /// Refuses, with a message saying what to write instead: an empty value, a scheme
    /// (`https://…`), a port, a query string, a `#` fragment, whitespace, characters that cannot
    /// appear in a host name, empty host labels or path segments, more than one `*` between two
    /// dots or slashes, and a `*` in the last host label.
    pub fn parse(input: &str) -> Result<Self, CoreError> {
        let fail = |reason: &str| CoreError::InvalidDomain {
            input: excerpt(input),
            reason: reason.to_owned(),
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(fail(
                "it is empty; give a host such as app.example.com, optionally with a path",
            ));
        }
        if text.contains("://") {
            return Err(fail(
                "give the host without a scheme, e.g. app.example.com/path rather than \
                 https://app.example.com/path",
            ));
        }
        if text.contains('?') {
            return Err(fail(
                "query strings are not supported; remove everything from the '?'",
            ));
        }
        if text.contains('#') {
            return Err(fail(
                "'#' fragments are not supported; remove everything from the '#'",
            ));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("it contains whitespace or a control character"));
        }
        let (host, path) = match text.find('/') {
            Some(slash) => (&text[..slash], Some(&text[slash..])),
            None => (text, None),
        };
        if host.is_empty() {
            return Err(fail("the host is missing; give e.g. app.example.com/path"));
        }
        if host.contains(':') {
            return Err(fail(
                "port numbers are not supported; give the host without ':port' (applications \
                 are served on the gateway's own listeners)",
            ));
        }
        if host.len() > MAX_HOST_LEN {
            return Err(fail("the host is longer than 253 characters"));
        }
        if !host.is_ascii() {
            return Err(fail(
                "the host contains non-ASCII characters; write internationalised names in their \
                 xn-- (punycode) form",
            ));
        }
        let host = host.to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        for label in &labels {
            if label.is_empty() {
                return Err(fail(
                    "the host has an empty label (leading, trailing or double dot)",
                ));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
            {
                return Err(fail(
                    "the host may only contain letters, digits, '-', '_', '.' and '*'",
                ));
            }
            if label.matches('*').count() > 1 {
                return Err(fail("only one '*' is allowed between two dots"));
            }
        }
        if labels.last().is_some_and(|label| label.contains('*')) {
            return Err(fail("the last label of the host cannot contain a wildcard"));
        }

        let path = match path {
            None | Some("/") | Some("/*") => None,
            Some(path) => {
                if path.len() > MAX_PATH_LEN {
                    return Err(fail("the path is longer than 1024 characters"));
                }
                let segments: Vec<&str> = path[1..].split('/').collect();
                let last = segments.len() - 1;
                for (index, segment) in segments.iter().enumerate() {
                    if segment.is_empty() && index != last {
                        return Err(fail("the path has an empty segment ('//')"));
                    }
                    if segment.matches('*').count() > 1 {
                        return Err(fail("only one '*' is allowed between two slashes"));
                    }
                }
                Some(path.to_owned())
            }
        };
        let subtree = match &path {
            Some(path) if path.ends_with('*') => None,
            Some(path) if path.ends_with('/') => Some(format!("{path}*")),
            Some(path) => Some(format!("{path}/*")),
            None => None,
        };
        Ok(Self {
            host,
            path,
            subtree,
        })
    }

    /// The host part, lowercase, possibly with wildcards.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path part; `None` when the domain covers every path.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The host when it has no wildcard: the host to put in the application's URL (App Launcher,
    /// post-login redirect). `None` for `*.example.com`.
    pub fn host_literal(&self) -> Option<&str> {
        (!self.host.contains('*')).then_some(self.host.as_str())
    }

    /// A path inside the application to send a browser to: the path without its trailing `*`
    /// (`/` when every path is covered). `None` when a wildcard sits mid-path, as there is no one
    /// path to choose.
    pub fn launch_path(&self) -> Option<&str> {
        match &self.path {
            None => Some("/"),
            Some(path) => {
                let literal = path.strip_suffix('*').unwrap_or(path);
                (!literal.contains('*')).then_some(literal)
            }
        }
    }

    /// Whether a request for `host` (as sent, port allowed) and `path` (query allowed, ideally
    /// already passed through [`normalize_path`]) falls under this domain.
    pub fn matches(&self, host: &str, path: &str) -> bool {
        match normalize_host(host) {
            Some(host) => self.matches_host_normalized(&host) && self.matches_path(path),
            None => false,
        }
    }

    /// Whether `host` (port allowed) falls under this domain's host, for any path.
    pub fn matches_host(&self, host: &str) -> bool {
        normalize_host(host).is_some_and(|host| self.matches_host_normalized(&host))
    }

    fn matches_host_normalized(&self, host: &str) -> bool {
        if !self.host.contains('*') {
            return self.host == host;
        }
        let mut want = self.host.split('.');
        let mut have = host.split('.');
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (Some(pattern), Some(label)) => {
                    if !label_matches(pattern, label) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }

    fn matches_path(&self, path: &str) -> bool {
        let Some(pattern) = &self.path else {
            return true;
        };
        let path = strip_query(path);
        let path = if path.is_empty() { "/" } else { path };
        glob(pattern.as_bytes(), path.as_bytes())
            || self
                .subtree
                .as_ref()
                .is_some_and(|subtree| glob(subtree.as_bytes(), path.as_bytes()))
    }

    /// Orders patterns from least to most specific: an exact host beats any wildcard host, then
    /// more literal host characters, then more literal path characters, then a path without
    /// wildcards.
    fn specificity(&self) -> (bool, usize, usize, bool) {
        let literal = |text: &str| text.bytes().filter(|b| *b != b'*').count();
        let path = self.path.as_deref().unwrap_or("");
        (
            !self.host.contains('*'),
            literal(&self.host),
            literal(path),
            !path.contains('*'),
        )
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if let Some(path) = &self.path {
            f.write_str(path)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for DomainPattern {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DomainPattern {
    type Error = CoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DomainPattern> for String {
    fn from(value: DomainPattern) -> Self {
        value.to_string()
    }
}

/// Lowercases a request host and drops its port and a trailing dot; `None` for hosts no pattern
/// can match (IPv6 literals, empty labels). Borrows unless the host had uppercase letters.
fn normalize_host(host: &str) -> Option<Cow<'_, str>> {
    if host.starts_with('[') {
        return None;
    }
    let host = host.split_once(':').map_or(host, |(name, _port)| name);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.split('.').any(str::is_empty) {
        return None;
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(host))
    }
}

/// Matches one host label against a pattern label holding at most one `*`.
fn label_matches(pattern: &str, label: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == label,
        Some((prefix, suffix)) => {
            label.len() >= prefix.len() + suffix.len()
                && label.as_bytes().starts_with(prefix.as_bytes())
                && label.as_bytes().ends_with(suffix.as_bytes())
        }
    }
}

fn strip_query(path: &str) -> &str {
    path.find(['?', '#']).map_or(path, |end| &path[..end])
}

/// Whole-string match where `*` stands for any run of bytes (slashes included). Iterative with
/// single-star backtracking: linear in practice, `O(pattern × text)` at worst, never recursive.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|b| *b == b'*')
}

/// Normalises a request path before routing, so that the gateway and the origin agree on which
/// application a request belongs to: drops the query and fragment, decodes percent-encoded
/// unreserved characters (`%61` → `a`, `%2E` → `.`), resolves `.` and `..` segments and merges
/// repeated slashes; a `%` that starts no escape becomes `%25`. `%2F` stays encoded. Borrows
/// when the path is already normal.
///
/// Call it on every request and forward the normalised path to the origin: routing on one
/// spelling and forwarding another is how `/public/../admin` reaches an admin page under the
/// public app's policy.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let path = strip_query(path);
    let suspicious = path.is_empty()
        || !path.starts_with('/')
        || path.contains('%')
        || path.contains("//")
        || path.contains("/.");
    if !suspicious {
        return Cow::Borrowed(path);
    }
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let body = decoded.strip_prefix('/').unwrap_or(&decoded);
    let mut parts = body.split('/').peekable();
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        match segment {
            "" | "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            other => {
                segments.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    if out == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(out)
    }
}

/// Decodes `%XX` escapes of RFC 3986 unreserved characters; everything else is kept as written.
fn decode_unreserved(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[index + 1]), hex(bytes[index + 2]))
        {
            let decoded = (high * 16 + low) as u8;
            if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
                out.push(char::from(decoded));
                index += 3;
                continue;
            }
        }
        if bytes[index] == b'%' {
            // A '%' that starts no escape is written as one, so that the result is a fixed
            // point: "%4%41" would otherwise become "%4A", which decodes again to "J".
            let escapes_next = index + 2 < bytes.len()
                && hex(bytes[index + 1]).is_some()
                && hex(bytes[index + 2]).is_some();
            if !escapes_next {
                out.push_str("%25");
                index += 1;
                continue;
            }
        }
        // Copy one whole character (paths may hold raw UTF-8).
        let ch_len = path[index..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&path[index..index + ch_len]);
        index += ch_len;
    }
    Cow::Owned(out)
}

/// Finds the application a request belongs to. Built once from configuration, consulted on every
/// request (no allocation unless the host has uppercase letters).
#[derive(Clone, Debug)]
pub struct AppRouter<T> {
    entries: Vec<(DomainPattern, T)>,
    /// Exact hosts → entry indices, most specific path first.
    exact: HashMap<String, Vec<usize>>,
    /// Entries with a wildcard host, most specific first.
    wildcard: Vec<usize>,
}

impl<T> AppRouter<T> {
    /// A router with no applications: every request is unrouted.
    pub fn empty() -> Self {
        Self {
            entries: Vec::new(),
            exact: HashMap::new(),
            wildcard: Vec::new(),
        }
    }

    /// Builds the router from `(domain, application)` pairs, typically every domain of every
    /// configured application.
    ///
    /// Returns [`CoreError::DuplicateDomain`] when two entries have the same canonical domain,
    /// since a request to it could not be routed without guessing.
    pub fn new(apps: impl IntoIterator<Item = (DomainPattern, T)>) -> Result<Self, CoreError> {
        let entries: Vec<(DomainPattern, T)> = apps.into_iter().collect();
        let mut seen: HashMap<&DomainPattern, usize> = HashMap::with_capacity(entries.len());
        for (index, (pattern, _)) in entries.iter().enumerate() {
            if let Some(first) = seen.insert(pattern, index) {
                return Err(CoreError::DuplicateDomain {
                    domain: pattern.to_string(),
                    first,
                    second: index,
                });
            }
        }
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wildcard = Vec::new();
        for (index, (pattern, _)) in entries.iter().enumerate() {
            match pattern.host_literal() {
                Some(host) => exact.entry(host.to_owned()).or_default().push(index),
                None => wildcard.push(index),
            }
        }
        // Stable sorts: among equally specific patterns, the one declared first wins.
        let by_specificity = |a: &usize, b: &usize| {
            entries[*b]
                .0
                .specificity()
                .cmp(&entries[*a].0.specificity())
        };
        for bucket in exact.values_mut() {
            bucket.sort_by(by_specificity);
        }
        wildcard.sort_by(by_specificity);
        Ok(Self {
            entries,
            exact,
            wildcard,
        })
    }

    /// The application a request for `host` (port allowed) and `path` belongs to: the most
    /// specific matching domain, an exact host always beating a wildcard one. `None` when no
    /// application covers the request.
    pub fn route(&self, host: &str, path: &str) -> Option<&T> {
        self.route_entry(host, path).map(|(_, app)| app)
    }

    /// Like [`AppRouter::route`], also returning the domain that matched.
    pub fn route_entry(&self, host: &str, path: &str) -> Option<(&DomainPattern, &T)> {
        let host = normalize_host(host)?;
        let candidates = self
            .exact
            .get(host.as_ref())
            .into_iter()
            .flatten()
            .map(|index| (*index, true))
            .chain(self.wildcard.iter().map(|index| (*index, false)));
        for (index, host_known_equal) in candidates {
            let Some((pattern, app)) = self.entries.get(index) else {
                continue;
            };
            let host_ok = host_known_equal || pattern.matches_host_normalized(&host);
            if host_ok && pattern.matches_path(path) {
                return Some((pattern, app));
            }
        }
        None
    }

    /// Whether a redirect target (`host` with optional port, `path`) belongs to some application.
    /// Called before every redirect the gateway issues, so that it can never become an open
    /// redirect.
    pub fn contains_url_target(&self, host: &str, path: &str) -> bool {
        self.route_entry(host, path).is_some()
    }

    /// Whether any application covers some path of `host` (port allowed).
    pub fn covers_host(&self, host: &str) -> bool {
        let Some(host) = normalize_host(host) else {
            return false;
        };
        self.exact.contains_key(host.as_ref())
            || self
                .wildcard
                .iter()
                .filter_map(|index| self.entries.get(*index))
                .any(|(pattern, _)| pattern.matches_host_normalized(&host))
    }

    /// Every `(domain, application)` pair, in the order given to [`AppRouter::new`].
    pub fn iter(&self) -> impl Iterator<Item = (&DomainPattern, &T)> {
        self.entries.iter().map(|(pattern, app)| (pattern, app))
    }

    /// Number of domains routed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no domain is routed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> DomainPattern {
        DomainPattern::parse(text).unwrap()
    }

    fn error(text: &str) -> String {
        DomainPattern::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_cloudflare_examples() {
        for text in [
            "whoami.localhost",
            "example.com/alpha/*",
            "*.example.com",
            "*test.example.com",
            "example.com/foo*/bar",
            "a-b_c.example.com/x/y/",
        ] {
            assert_eq!(pattern(text).to_string(), text);
        }
        assert_eq!(
            pattern(" App.Example.COM/Path ").to_string(),
            "app.example.com/Path"
        );
        assert_eq!(pattern("example.com/*"), pattern("example.com"));
        assert_eq!(pattern("example.com/"), pattern("example.com"));
        assert_eq!(pattern("example.com/*").to_string(), "example.com");
    }

    #[test]
    fn refuses_bad_domains_clearly() {
        assert!(error("").contains("empty"));
        assert!(error("https://example.com").contains("without a scheme"));
        assert!(error("example.com:8443").contains("port"));
        assert!(error("example.com:8443/app").contains("port"));
        assert!(error("example.com/app?x=1").contains("query"));
        assert!(error("dashboard.com/#settings").contains("'#'"));
        assert!(error("**.example.com").contains("one '*'"));
        assert!(error("a*b*.example.com").contains("one '*'"));
        assert!(error("example.com/a**/b").contains("one '*'"));
        assert!(error("example.com/*a*").contains("one '*'"));
        assert!(error("example.*").contains("last label"));
        assert!(error("*").contains("last label"));
        assert!(error("/path").contains("host is missing"));
        assert!(error("example..com").contains("empty label"));
        assert!(error("example.com.").contains("empty label"));
        assert!(error("exa mple.com").contains("whitespace"));
        assert!(error("user@example.com").contains("may only contain"));
        assert!(error("bücher.example").contains("xn--"));
        assert!(error("example.com//x").contains("empty segment"));
        // One wildcard per label and per segment is fine.
        assert!(DomainPattern::parse("*.*.example.com").is_ok());
        assert!(DomainPattern::parse("example.com/*/x/*").is_ok());
    }

    #[test]
    fn host_matching() {
        let p = pattern("Whoami.Localhost");
        assert!(p.matches("whoami.localhost", "/"));
        assert!(p.matches("WHOAMI.localhost:8080", "/x"));
        assert!(p.matches("whoami.localhost.", "/"));
        assert!(!p.matches("whoami.localhost.evil.com", "/"));
        assert!(!p.matches("evilwhoami.localhost", "/"));
        assert!(!p.matches("[::1]:8080", "/"));
        assert!(!p.matches("", "/"));

        let wild = pattern("*.example.com");
        assert!(wild.matches("app.example.com", "/"));
        assert!(wild.matches("APP.example.com:443", "/"));
        assert!(!wild.matches("example.com", "/"), "not the apex");
        assert!(!wild.matches("foo.bar.example.com", "/"), "one label only");
        assert!(!wild.matches(".example.com", "/"));
        assert!(!wild.matches("app.example.org", "/"));

        let partial = pattern("*test.example.com");
        assert!(partial.matches("test.example.com", "/"));
        assert!(partial.matches("alphatest.example.com", "/"));
        assert!(!partial.matches("testing.example.com", "/"));
        assert!(!partial.matches("a.test.example.com", "/"));
        let infix = pattern("te*st.example.com");
        assert!(infix.matches("test.example.com", "/"));
        assert!(infix.matches("te-x-st.example.com", "/"));
        assert!(!infix.matches("tst.example.com", "/"));
        assert!(pattern("app.example.com").matches_host("APP.example.com:1"));
    }

    #[test]
    fn path_matching() {
        for all in ["example.com", "example.com/*", "example.com/"] {
            let p = pattern(all);
            for path in ["/", "", "/anything", "/a/b/c?x=1"] {
                assert!(p.matches("example.com", path), "{all} {path}");
            }
        }

        let alpha_star = pattern("example.com/alpha/*");
        assert!(!alpha_star.matches("example.com", "/alpha"));
        assert!(alpha_star.matches("example.com", "/alpha/"));
        assert!(alpha_star.matches("example.com", "/alpha/x/y"));
        assert!(!alpha_star.matches("example.com", "/alphabet/x"));

        let alpha = pattern("example.com/alpha");
        assert!(alpha.matches("example.com", "/alpha"));
        assert!(alpha.matches("example.com", "/alpha?x=1"));
        assert!(alpha.matches("example.com", "/alpha/"));
        assert!(alpha.matches("example.com", "/alpha/beta"));
        assert!(!alpha.matches("example.com", "/alphabet"));
        assert!(
            !alpha.matches("example.com", "/Alpha"),
            "paths are case-sensitive"
        );
        assert!(!alpha.matches("example.com", "/"));
        assert!(!alpha.matches("other.com", "/alpha"));

        let trailing = pattern("example.com/alpha/");
        assert!(trailing.matches("example.com", "/alpha/"));
        assert!(trailing.matches("example.com", "/alpha/x"));
        assert!(!trailing.matches("example.com", "/alpha"));

        let middle = pattern("example.com/foo*/bar");
        assert!(middle.matches("example.com", "/foo/bar"));
        assert!(middle.matches("example.com", "/foobaz/bar"));
        assert!(
            middle.matches("example.com", "/foo/x/y/bar"),
            "spans segments"
        );
        assert!(middle.matches("example.com", "/foo1/bar/deeper"));
        assert!(!middle.matches("example.com", "/foo/barn"));
        assert!(!middle.matches("example.com", "/fo/bar"));

        let prefix = pattern("example.com/api*");
        assert!(prefix.matches("example.com", "/api"));
        assert!(prefix.matches("example.com", "/apis/v1"));
        assert!(!prefix.matches("example.com", "/ap"));
    }

    #[test]
    fn literals_for_urls() {
        assert_eq!(
            pattern("app.example.com/x/*").host_literal(),
            Some("app.example.com")
        );
        assert_eq!(pattern("*.example.com").host_literal(), None);
        assert_eq!(pattern("app.example.com").launch_path(), Some("/"));
        assert_eq!(
            pattern("app.example.com/alpha").launch_path(),
            Some("/alpha")
        );
        assert_eq!(
            pattern("app.example.com/alpha/*").launch_path(),
            Some("/alpha/")
        );
        assert_eq!(pattern("app.example.com/foo*/bar").launch_path(), None);
        let p = pattern("app.example.com/alpha/*");
        assert!(p.matches("app.example.com", p.launch_path().unwrap()));
    }

    #[test]
    fn serde_as_string() {
        let p: DomainPattern = serde_json::from_str("\"*.Example.com/x\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"*.example.com/x\"");
        let err = serde_json::from_str::<DomainPattern>("\"https://x.com\"").unwrap_err();
        assert!(err.to_string().contains("without a scheme"), "{err}");
    }

    fn router(domains: &[&'static str]) -> AppRouter<&'static str> {
        AppRouter::new(domains.iter().map(|d| (pattern(d), *d))).unwrap()
    }

    #[test]
    fn router_picks_most_specific() {
        let r = router(&[
            "*.example.com",
            "example.com",
            "example.com/admin",
            "example.com/admin/reports/*",
            "app.example.com",
            "*.example.com/api",
            "*pp.example.com",
        ]);
        assert_eq!(r.route("example.com", "/"), Some(&"example.com"));
        assert_eq!(r.route("example.com", "/admin"), Some(&"example.com/admin"));
        assert_eq!(
            r.route("example.com", "/admin/users"),
            Some(&"example.com/admin")
        );
        assert_eq!(
            r.route("example.com", "/admin/reports/q1"),
            Some(&"example.com/admin/reports/*")
        );
        assert_eq!(r.route("Example.COM:8080", "/adminx"), Some(&"example.com"));
        // An exact host beats every wildcard host, whatever their paths.
        assert_eq!(r.route("app.example.com", "/api"), Some(&"app.example.com"));
        // Among wildcard hosts: more literal host characters first, then longer paths.
        assert_eq!(r.route("zapp.example.com", "/"), Some(&"*pp.example.com"));
        assert_eq!(
            r.route("other.example.com", "/api/v1"),
            Some(&"*.example.com/api")
        );
        assert_eq!(r.route("other.example.com", "/"), Some(&"*.example.com"));
        assert_eq!(r.route("a.b.example.com", "/"), None);
        assert_eq!(r.route("example.org", "/"), None);
        let (matched, _) = r.route_entry("example.com", "/admin").unwrap();
        assert_eq!(matched.to_string(), "example.com/admin");
    }

    #[test]
    fn router_without_parent_app_leaves_other_paths_unrouted() {
        let r = router(&["example.com/alpha"]);
        assert_eq!(
            r.route("example.com", "/alpha/x"),
            Some(&"example.com/alpha")
        );
        assert_eq!(r.route("example.com", "/beta"), None);
        assert!(r.covers_host("example.com:80"));
        assert!(!r.covers_host("www.example.com"));
    }

    #[test]
    fn redirect_targets_must_belong_to_an_app() {
        let r = router(&["whoami.localhost", "*.apps.example.com", "example.com/app"]);
        assert!(r.contains_url_target("whoami.localhost:8080", "/any/where?x=1"));
        assert!(r.contains_url_target("x.apps.example.com", "/"));
        assert!(r.contains_url_target("example.com", "/app/page"));
        assert!(!r.contains_url_target("example.com", "/"));
        assert!(!r.contains_url_target("whoami.localhost.evil.com", "/"));
        assert!(!r.contains_url_target("evil.com", "/"));
        assert!(!r.contains_url_target("apps.example.com", "/"));
        assert!(r.covers_host("y.apps.example.com"));
        assert!(!r.covers_host("[::1]"));
    }

    #[test]
    fn router_refuses_duplicate_domains() {
        let err = AppRouter::new([(pattern("example.com"), 1), (pattern("Example.com/*"), 2)])
            .unwrap_err();
        assert_eq!(
            err,
            CoreError::DuplicateDomain {
                domain: "example.com".into(),
                first: 0,
                second: 1
            }
        );
        let ok =
            AppRouter::new([(pattern("example.com"), 1), (pattern("example.com/a"), 2)]).unwrap();
        assert_eq!(ok.len(), 2);
        assert!(!ok.is_empty());
        assert_eq!(ok.iter().count(), 2);
    }

    #[test]
    fn equally_specific_patterns_keep_declaration_order() {
        let r = AppRouter::new([
            (pattern("*a.example.com"), 1),
            (pattern("a*.example.com"), 2),
        ])
        .unwrap();
        assert_eq!(r.route("a.example.com", "/"), Some(&1));
    }

    #[test]
    fn normalize_path_resolves_tricks() {
        for (input, expected) in [
            ("/", "/"),
            ("", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/a/b?x=1", "/a/b"),
            ("/a#frag", "/a"),
            ("//admin", "/admin"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/./admin/.", "/admin/"),
            ("/../../admin", "/admin"),
            ("/a/..", "/"),
            ("/a%2Fb", "/a%2Fb"),
            ("/a%zz", "/a%25zz"),
            ("/a%4", "/a%254"),
            ("/a%", "/a%25"),
            ("/%4%41", "/%254A"),
            ("/caf\u{e9}/%7euser", "/caf\u{e9}/~user"),
            ("/.well-known/x", "/.well-known/x"),
            ("relative", "/relative"),
        ] {
            assert_eq!(normalize_path(input), expected, "{input}");
        }
        assert!(matches!(normalize_path("/a/b"), Cow::Borrowed(_)));
        assert!(matches!(normalize_path("/.well-known/x"), Cow::Borrowed(_)));
        // The bypass it exists to stop: a traversal out of a public app into a protected one.
        let r = router(&["example.com/public", "example.com/admin"]);
        let path = normalize_path("/public/%2e%2e/admin/users");
        assert_eq!(r.route("example.com", &path), Some(&"example.com/admin"));
    }
}
