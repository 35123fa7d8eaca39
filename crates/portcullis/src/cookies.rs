//! Cookie headers: reading named values out of `Cookie`, writing `Set-Cookie`.
//!
//! Reading is lenient about spacing and never fails: a malformed pair is skipped. Values are
//! returned as written (our cookies hold base64url and JWTs, which need no decoding).

use http::HeaderMap;
use http::header::COOKIE;

use crate::config::SameSite;

/// The application and global session cookie (Cloudflare's name).
pub const AUTH_COOKIE: &str = "CF_Authorization";

/// The binding cookie that must accompany an application token when the app asks for it.
pub const BINDING_COOKIE: &str = "CF_Binding";

/// Every value of cookie `name` across all `Cookie` headers, in order.
pub fn values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
}

/// The first value of cookie `name`.
pub fn first<'a>(headers: &'a HeaderMap, name: &'a str) -> Option<&'a str> {
    values(headers, name).next()
}

/// Removes every `name=…` pair from the `Cookie` headers (the binding cookie never reaches the
/// origin). Headers left empty are dropped.
pub fn remove(headers: &mut HeaderMap, name: &str) {
    let present = values(headers, name).next().is_some();
    if !present {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .map(|h| {
            h.split(';')
                .filter(|pair| pair.split_once('=').is_none_or(|(k, _)| k.trim() != name))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|h| !h.is_empty())
        .collect();
    headers.remove(COOKIE);
    for h in kept {
        if let Ok(v) = http::HeaderValue::from_str(&h) {
            headers.append(COOKIE, v);
        }
    }
}

/// Attributes of a cookie we set.
#[derive(Debug, Clone, Copy)]
pub struct CookieAttrs<'a> {
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
    /// `/` unless the application scopes its cookie to its path.
    pub path: &'a str,
}

/// A `Set-Cookie` value for `name=value` on the host that answers (host-only).
pub fn set(name: &str, value: &str, max_age: i64, attrs: CookieAttrs<'_>) -> String {
    let mut c = format!(
        "{name}={value}; Path={}; Max-Age={}",
        attrs.path,
        max_age.max(0)
    );
    if attrs.http_only {
        c.push_str("; HttpOnly");
    }
    if attrs.secure {
        c.push_str("; Secure");
    }
    c.push_str("; SameSite=");
    c.push_str(attrs.same_site.as_str());
    c
}

/// A `Set-Cookie` value that removes cookie `name`.
pub fn clear(name: &str, attrs: CookieAttrs<'_>) -> String {
    set(name, "", 0, attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_values_across_headers_and_skips_junk() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; CF_Authorization=x.y.z;junk; b"),
        );
        h.append(
            COOKIE,
            HeaderValue::from_static("CF_Authorization = \"q.r.s\""),
        );
        let v: Vec<&str> = values(&h, AUTH_COOKIE).collect();
        assert_eq!(v, ["x.y.z", "q.r.s"]);
        assert_eq!(first(&h, "a"), Some("1"));
        assert_eq!(first(&h, "missing"), None);
        assert_eq!(first(&h, "b"), None);
    }

    #[test]
    fn set_cookie_attributes() {
        let attrs = CookieAttrs {
            secure: true,
            http_only: true,
            same_site: SameSite::Strict,
            path: "/",
        };
        assert_eq!(
            set(AUTH_COOKIE, "t", 60, attrs),
            "CF_Authorization=t; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Strict"
        );
        let plain = CookieAttrs {
            secure: false,
            http_only: false,
            same_site: SameSite::Lax,
            path: "/admin",
        };
        assert_eq!(
            clear("x", plain),
            "x=; Path=/admin; Max-Age=0; SameSite=Lax"
        );
    }

    #[test]
    fn removes_one_cookie_and_keeps_the_rest() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; CF_Binding=secret; CF_Authorization=t"),
        );
        h.append(COOKIE, HeaderValue::from_static("CF_Binding=again"));
        remove(&mut h, BINDING_COOKIE);
        let all: Vec<&str> = h
            .get_all(COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all, ["a=1; CF_Authorization=t"]);
    }
}
