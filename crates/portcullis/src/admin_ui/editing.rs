//! What the object forms (login methods, applications, reusable policies, rule groups) share:
//! errors shown next to the field they name, a refused save read into those errors, list fields
//! typed as text, and object ids in paths.
//!
//! A refused save never loses what was typed: the handlers render the form again from the
//! request, with the errors placed here.

use crate::objects::edit::EditError;

use super::Ask;
use super::page::PageError;

/// Errors of one form: by field name, and for the form as a whole.
#[derive(Default)]
pub(crate) struct Errors {
    fields: Vec<(String, String)>,
    top: Vec<String>,
}

impl Errors {
    /// The error shown next to `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Adds an error next to `field` (a second one for the same field is appended).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        match self.fields.iter_mut().find(|(f, _)| f == field) {
            Some((_, m)) => {
                m.push_str("; ");
                m.push_str(&message);
            }
            None => self.fields.push((field.to_owned(), message)),
        }
    }

    /// Adds an error shown at the top of the form.
    pub fn add_top(&mut self, message: impl Into<String>) {
        self.top.push(message.into());
    }

    /// The errors shown at the top of the form.
    pub fn top(&self) -> &[String] {
        &self.top
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.top.is_empty()
    }
}

/// The key a validation message starts with: `origin: …`, "`config.client_id`: …".
pub(crate) fn leading_key(message: &str) -> Option<&str> {
    let m = message.trim_start();
    let (key, rest) = match m.strip_prefix('`') {
        Some(quoted) => {
            let (key, rest) = quoted.split_once('`')?;
            (key, rest)
        }
        None => {
            let end = m.find(':')?;
            (&m[..end], &m[end..])
        }
    };
    let is_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    (is_key && rest.starts_with(':')).then_some(key)
}

/// The message without its leading key.
pub(crate) fn without_key(message: &str) -> &str {
    match leading_key(message) {
        Some(key) => {
            let m = message.trim_start();
            let skip = if m.starts_with('`') {
                key.len() + 3
            } else {
                key.len() + 1
            };
            m.get(skip..).unwrap_or(m).trim_start()
        }
        None => message,
    }
}

/// What another object's problem starts with (`application "wiki": …`): never the
/// continuation of the message before it.
const OBJECT_NOUNS: &[&str] = &[
    "login method \"",
    "application \"",
    "reusable policy \"",
    "rule group \"",
    "list \"",
];

/// Splits a refusal (several problems joined with "; ") into its problems. A piece that starts
/// neither with a key the form knows nor with another object's name continues the problem before
/// it: messages such as "… is not a declared login method; declared: […]" hold "; " themselves.
fn problems(message: &str, known: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for piece in message.split("; ") {
        let starts = leading_key(piece)
            .is_some_and(|k| piece.starts_with('`') || known(k).is_some())
            || OBJECT_NOUNS.iter().any(|n| piece.starts_with(n));
        match out.last_mut() {
            Some(last) if !starts => {
                last.push_str("; ");
                last.push_str(piece);
            }
            _ => out.push(piece.to_owned()),
        }
    }
    out
}

/// Places a refused save's errors: each problem next to the field that `field_for` names for
/// it (asked with the problem's leading key and the rest of its message, then, when that names
/// no field, with no key and the whole problem), the others at the top of the form. A name or
/// domain conflict goes next to that field. Failures that are not about the input become the
/// page's error.
pub(crate) fn absorb(
    errors: &mut Errors,
    error: EditError,
    field_for: &dyn Fn(Option<&str>, &str) -> Option<String>,
) -> Result<(), PageError> {
    match error {
        EditError::Invalid(message) => {
            let known = |k: &str| field_for(Some(k), "");
            for problem in problems(&message, &known) {
                let by_key = leading_key(&problem).and_then(|k| {
                    let rest = without_key(&problem);
                    field_for(Some(k), rest).map(|f| (f, rest.to_owned()))
                });
                match by_key.or_else(|| field_for(None, &problem).map(|f| (f, problem.clone()))) {
                    Some((field, text)) => errors.add(&field, text),
                    None => errors.add_top(problem),
                }
            }
            Ok(())
        }
        EditError::Conflict(message) => {
            let field = if message.ends_with("domain") {
                "domain"
            } else {
                "name"
            };
            errors.add(field, format!("{message}; choose another"));
            Ok(())
        }
        EditError::ReadOnly(message) => {
            errors.add_top(message);
            Ok(())
        }
        EditError::NotFound(_) => Err(PageError::NotFound),
        EditError::Store(e) => Err(PageError::Store(e)),
        EditError::Internal(e) => Err(PageError::internal(e)),
    }
}

/// Every value of a form field that may repeat (checkboxes), trimmed, empty ones left out.
pub(crate) fn values<'a>(ask: &'a Ask<'_>, name: &str) -> Vec<&'a str> {
    ask.form
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Whether a checkbox was ticked.
pub(crate) fn ticked(ask: &Ask<'_>, name: &str) -> bool {
    !ask.field(name).is_empty()
}

/// The items of a list typed as text, separated by commas, line breaks or spaces.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The items of a list typed as text whose items may hold spaces (group names): separated by
/// commas or line breaks.
pub(crate) fn items(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An object id as one path segment (ids from the configuration file may hold any character).
pub(crate) fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path segment back into the id; `None` when it is not valid percent-encoded UTF-8.
pub(crate) fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The notice a list page shows after a change (`?done=…`).
pub(crate) fn done_notice(ask: &Ask<'_>, noun: &str) -> Option<String> {
    match ask.query.get("done")? {
        "created" => Some(format!("The {noun} was added; it is in force.")),
        "saved" => Some(format!("The {noun} was saved; it is in force.")),
        "deleted" => Some(format!("The {noun} was deleted.")),
        _ => None,
    }
}

/// Problems of stored objects of `kind` that are left out of what is in force (they do not
/// validate any more), as the list pages show them.
pub(crate) fn left_out(ask: &Ask<'_>, kind: crate::objects::Kind) -> Vec<String> {
    ask.gw
        .object_problems
        .lock()
        .map(|problems| {
            problems
                .iter()
                .filter(|p| p.kind == kind)
                .map(ToString::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_keys_are_read_with_and_without_backticks() {
        assert_eq!(leading_key("origin: not a URL"), Some("origin"));
        assert_eq!(
            leading_key("`config.client_secret`: is required"),
            Some("config.client_secret")
        );
        assert_eq!(leading_key("`policies[0].id`: `x`"), Some("policies[0].id"));
        assert_eq!(leading_key("policy \"x\": include rule #1"), None);
        assert_eq!(leading_key("no key here"), None);
        assert_eq!(without_key("`origin`: must be a URL"), "must be a URL");
        assert_eq!(without_key("name: required"), "required");
    }

    #[test]
    fn a_refusal_is_split_into_problems_without_breaking_messages_that_hold_semicolons() {
        let known = |k: &str| (k == "allowed_idps[0]" || k == "origin").then(|| k.to_owned());
        let found = problems(
            "`allowed_idps[0]`: `x` is not a declared login method; declared: [\"a\"]; origin: bad; application \"wiki\": domain: taken",
            &known,
        );
        assert_eq!(
            found,
            [
                "`allowed_idps[0]`: `x` is not a declared login method; declared: [\"a\"]",
                "origin: bad",
                "application \"wiki\": domain: taken",
            ]
        );
    }

    #[test]
    fn errors_land_next_to_their_field_or_at_the_top() {
        let mut errors = Errors::default();
        let field_for =
            |k: Option<&str>, _: &str| (k == Some("origin")).then(|| "origin".to_owned());
        absorb(
            &mut errors,
            EditError::Invalid("`origin`: must be a URL; something else".into()),
            &field_for,
        )
        .unwrap();
        assert_eq!(errors.get("origin"), Some("must be a URL; something else"));
        let mut errors = Errors::default();
        absorb(
            &mut errors,
            EditError::Invalid("policy \"p\": include rule #1: bad".into()),
            &field_for,
        )
        .unwrap();
        assert_eq!(errors.top(), ["policy \"p\": include rule #1: bad"]);
        absorb(
            &mut errors,
            EditError::Conflict("another object already has this name".into()),
            &field_for,
        )
        .unwrap();
        assert!(
            errors
                .get("name")
                .unwrap()
                .contains("already has this name")
        );
    }

    #[test]
    fn ids_round_trip_through_a_path_segment() {
        for id in [
            "staff",
            "a b/c%d",
            "ünï",
            "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c",
        ] {
            let s = segment(id);
            assert!(!s.contains('/') && !s.contains(' '), "{s}");
            assert_eq!(decode_segment(&s).as_deref(), Some(id));
        }
        assert_eq!(decode_segment("%zz"), None);
    }

    #[test]
    fn lists_typed_as_text() {
        assert_eq!(
            words("a@b.c, d@e.f\ng@h.i  j"),
            ["a@b.c", "d@e.f", "g@h.i", "j"]
        );
        assert_eq!(
            items("Site Admins, ops\nfinance "),
            ["Site Admins", "ops", "finance"]
        );
    }
}
