//! The few bits of HTML both demo services render: escaping and one page layout.
//!
//! Everything that reaches a page from a request, a claim or a configuration value goes through
//! [`escape`]; the layout itself only interpolates escaped text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes text for use in HTML element content and in double- or single-quoted attribute values.
///
/// Called on every value a page shows. Returns the text with `& < > " '` replaced by character
/// references, so that it can neither close an element nor leave an attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Which service draws the page, so that the banner says what the reader is looking at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Banner {
    Idp,
    Origin,
}

impl Banner {
    fn text(self) -> &'static str {
        match self {
            Banner::Idp => {
                "This is the demo identity provider for trying Portcullis out: its users, \
                 passwords and keys are throwaway and live in memory."
            }
            Banner::Origin => {
                "This is the demo app for trying Portcullis out: it shows every header it \
                 receives, tokens included."
            }
        }
    }
}

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fdfdfd;--muted:#57606a;--accent:#0b57d0;\
--warn-bg:#fff4ce;--warn-fg:#4d3800;--line:#d0d7de;--code-bg:#f3f4f6}\
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9da7b1;\
--accent:#7cb1ff;--warn-bg:#3d2e00;--warn-fg:#ffe08a;--line:#30363d;--code-bg:#161b22}}\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
color:var(--fg);background:var(--bg)}\
.banner{margin:0;padding:.6rem 1rem;background:var(--warn-bg);color:var(--warn-fg);\
border-bottom:1px solid var(--line);font-size:.95rem}\
main{max-width:46rem;margin:0 auto;padding:1.5rem 1rem 3rem}\
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem;overflow-wrap:anywhere}\
h2{font-size:1.2rem;margin:2rem 0 .5rem}\
a{color:var(--accent)}\
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid var(--accent);\
outline-offset:2px}\
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9rem}\
pre{background:var(--code-bg);padding:.75rem;border-radius:6px;overflow-x:auto;\
white-space:pre-wrap;overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%;font-size:.9rem}\
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid var(--line);\
overflow-wrap:anywhere}\
th{width:35%}\
label{display:block;font-weight:600;margin-top:1rem}\
input{display:block;width:100%;max-width:22rem;font:inherit;padding:.5rem;margin-top:.25rem;\
border:1px solid var(--muted);border-radius:6px;background:var(--bg);color:var(--fg)}\
button{margin-top:1.25rem;font:inherit;font-weight:600;padding:.55rem 1.4rem;border:0;\
border-radius:6px;background:var(--accent);color:#fff;cursor:pointer}\
.error{border-left:4px solid #cf222e;padding:.5rem .75rem;background:var(--code-bg)}\
.muted{color:var(--muted)}\
ul.users{padding-left:1.2rem}";

/// Renders a complete page: banner, heading and the already-escaped `body_html`.
///
/// `title` is escaped here; `body_html` must have been built from escaped pieces by the caller.
pub(crate) fn page(banner: Banner, title: &str, body_html: &str) -> String {
    let title = escape(title);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\
         <p class=\"banner\" role=\"note\"><strong>Demo — not for production.</strong> {banner}</p>\
         <main><h1>{title}</h1>{body_html}</main></body></html>\n",
        banner = escape(banner.text()),
    )
}

/// Wraps a rendered page in a response with headers that keep it from being framed, cached or
/// sniffed, and that allow only the inline stylesheet.
pub(crate) fn page_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // No form-action directive: a login form's redirect to the relying party would be caught by it.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_attribute_breakouts() {
        let hostile = r#"<script>alert("x")</script>' onmouseover='y' &amp;"#;
        let escaped = escape(hostile);
        assert_eq!(
            escaped,
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;y&#39; &amp;amp;"
        );
        for forbidden in ['<', '>', '"', '\''] {
            assert!(!escaped.contains(forbidden), "{forbidden} survived");
        }
    }

    #[test]
    fn escape_keeps_ordinary_text_and_unicode() {
        assert_eq!(
            escape("Alice Example — ünïcode 👋"),
            "Alice Example — ünïcode 👋"
        );
        assert_eq!(escape(""), "");
    }

    #[test]
    fn page_escapes_its_title() {
        let html = page(Banner::Origin, "<b>t</b>", "<p>ok</p>");
        assert!(html.contains("<title>&lt;b&gt;t&lt;/b&gt;</title>"));
        assert!(html.contains("<p>ok</p>"));
        assert!(html.contains("not for production"));
    }
}
