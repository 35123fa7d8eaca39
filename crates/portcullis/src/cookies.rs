//! Cookie headers: reading named values out of `Cookie`, writing `Set-Cookie`.
//!
//! Reading is lenient about spacing and never fails: a malformed pair is skipped. Values are
//! returned as written (our cookies hold base64url and JWTs, which need no decoding).

use http::HeaderMap;
use http::header::COOKIE;

use crate::config::SameSite;

/// The application and global session cookie (Cloudflare's name).
pub const AUTH_COOKIE: &str = "CF_Authorization";

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

/// Attributes of a cookie we set.
#[derive(Debug, Clone, Copy)]
pub struct CookieAttrs {
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
}

/// A `Set-Cookie` value for `name=value` on the host that answers (host-only, path `/`).
pub fn set(name: &str, value: &str, max_age: i64, attrs: CookieAttrs) -> String {
    let mut c = format!("{name}={value}; Path=/; Max-Age={}", max_age.max(0));
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
pub fn clear(name: &str, attrs: CookieAttrs) -> String {
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
        };
        assert_eq!(
            set(AUTH_COOKIE, "t", 60, attrs),
            "CF_Authorization=t; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Strict"
        );
        let plain = CookieAttrs {
            secure: false,
            http_only: false,
            same_site: SameSite::Lax,
        };
        assert_eq!(clear("x", plain), "x=; Path=/; Max-Age=0; SameSite=Lax");
    }
}
