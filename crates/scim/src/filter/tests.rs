use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::ScimType;

fn p(input: &str) -> Filter {
    Filter::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"))
}

fn path(name: &str) -> AttributePath {
    AttributePath::new(name)
}

fn eq(name: &str, value: &str) -> Filter {
    Filter::Compare {
        path: path(name),
        op: CompareOp::Eq,
        value: CompValue::String(value.into()),
    }
}

fn bad(input: &str) -> String {
    let err = Filter::parse(input).expect_err(input);
    assert_eq!(err.status, 400, "{input}");
    assert_eq!(err.scim_type, Some(ScimType::InvalidFilter), "{input}");
    err.detail
}

#[test]
fn every_operator() {
    for (word, op) in [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ] {
        let f = p(&format!("title {word} \"x\""));
        assert_eq!(
            f,
            Filter::Compare {
                path: path("title"),
                op,
                value: CompValue::String("x".into())
            }
        );
        let upper = p(&format!("title {} \"x\"", word.to_uppercase()));
        assert_eq!(upper, f);
    }
    assert_eq!(p("title pr"), Filter::Present(path("title")));
    assert_eq!(p("title PR"), Filter::Present(path("title")));
}

#[test]
fn literals() {
    let value = |f: Filter| match f {
        Filter::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(value(p("active eq true")), CompValue::Bool(true));
    assert_eq!(value(p("active eq False")), CompValue::Bool(false));
    assert_eq!(value(p("manager eq null")), CompValue::Null);
    assert_eq!(value(p("age gt 42")), CompValue::Number(42.into()));
    assert_eq!(
        value(p("score le -1.5e3")),
        CompValue::Number(serde_json::Number::from_f64(-1500.0).unwrap())
    );
    assert_eq!(
        value(p(r#"userName eq "a\"b\\c\u00e9\n""#)),
        CompValue::String("a\"b\\c\u{e9}\n".into())
    );
    assert_eq!(
        value(p("displayName eq \"Zoë 日本\"")),
        CompValue::String("Zoë 日本".into())
    );
}

#[test]
fn and_binds_tighter_than_or() {
    let f = p(r#"a eq "1" or b eq "2" and c eq "3""#);
    assert_eq!(
        f,
        Filter::Or(
            Box::new(eq("a", "1")),
            Box::new(Filter::And(Box::new(eq("b", "2")), Box::new(eq("c", "3"))))
        )
    );
    let grouped = p(r#"(a eq "1" or b eq "2") and c eq "3""#);
    assert_eq!(
        grouped,
        Filter::And(
            Box::new(Filter::Or(Box::new(eq("a", "1")), Box::new(eq("b", "2")))),
            Box::new(eq("c", "3"))
        )
    );
    let chain = p(r#"a eq "1" AND b eq "2" And c eq "3""#);
    assert_eq!(
        chain,
        Filter::And(
            Box::new(Filter::And(Box::new(eq("a", "1")), Box::new(eq("b", "2")))),
            Box::new(eq("c", "3"))
        )
    );
}

#[test]
fn not_and_grouping() {
    assert_eq!(p(r#"not (a eq "1")"#), Filter::Not(Box::new(eq("a", "1"))));
    assert_eq!(p(r#"NOT(a eq "1")"#), Filter::Not(Box::new(eq("a", "1"))));
    assert_eq!(p(r#"((a eq "1"))"#), eq("a", "1"));
    // An attribute that is called "not" still works.
    assert_eq!(p(r#"not eq "1""#), eq("not", "1"));
}

#[test]
fn value_paths_and_sub_attributes() {
    let f = p(r#"emails[type eq "work" and primary eq true]"#);
    let Filter::ValuePath(vp) = &f else {
        panic!("{f:?}")
    };
    assert_eq!(vp.name, "emails");
    assert!(vp.sub.is_none());
    assert!(matches!(vp.filter.as_deref(), Some(Filter::And(..))));

    let f = p(r#"emails[type eq "work"].value eq "a@example.com""#);
    let Filter::Compare { path: cp, .. } = &f else {
        panic!("{f:?}")
    };
    assert_eq!(cp.sub.as_deref(), Some("value"));
    assert_eq!(cp.filter.as_deref(), Some(&eq("type", "work")));

    let f = p(r#"name.givenName sw "Ba""#);
    let Filter::Compare {
        path: np,
        op: CompareOp::Sw,
        ..
    } = &f
    else {
        panic!("{f:?}")
    };
    assert_eq!(
        (np.name.as_str(), np.sub.as_deref()),
        ("name", Some("givenName"))
    );

    let f = p(r#"members[value eq "u1" or value eq "u2"]"#);
    assert!(matches!(f, Filter::ValuePath(_)));
}

#[test]
fn urn_qualified_paths() {
    let f = p(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
    );
    let Filter::Compare { path: up, .. } = &f else {
        panic!()
    };
    assert_eq!(
        up.urn.as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(up.name, "employeeNumber");

    let f =
        p(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#);
    let Filter::Compare { path: up, .. } = &f else {
        panic!()
    };
    assert_eq!(
        (up.name.as_str(), up.sub.as_deref()),
        ("manager", Some("value"))
    );

    let f = p(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen""#);
    assert_eq!(
        f.as_simple_eq(),
        Some((IndexedAttribute::UserName, "bjensen"))
    );
}

#[test]
fn malformed_filters_say_where() {
    assert!(bad(r#"userName eq "unterminated"#).contains("unterminated string"));
    assert!(bad("userName eq").contains("expected"));
    assert!(bad(r#"userName xx "a""#).contains("unknown operator 'xx'"));
    assert!(bad(r#"emails[type eq "work""#).contains("expected ']'"));
    assert!(bad(r#"userName eq "a" and"#).contains("missing operand"));
    assert!(bad(r#"(userName eq "a""#).contains("expected ')'"));
    assert!(bad(r#"userName eq "a")"#).contains("unbalanced ')'"));
    assert!(bad(r#"userName eq "a" xor b pr"#).contains("expected 'and', 'or'"));
    assert!(bad("").contains("empty"));
    assert!(bad("   ").contains("empty"));
    assert!(bad(r#"userName eq 'single'"#).contains("expected a value"));
    assert!(bad(r#"1abc eq "x""#).contains("not a valid attribute path"));
    assert!(bad(r#"a.b.c eq "x""#).contains("not a valid attribute path"));
    assert!(bad(r#"urn:ietf:params:scim: eq "x""#).contains("URN"));
    assert!(bad("age gt 1e999").contains("invalid number"));
    assert!(bad(r#"emails[type eq "w"][x pr]"#).contains("expected"));
    assert!(bad(r#"emails[addresses[x pr]]"#).contains("nested"));
    assert!(bad("age gt 1.2.3").contains("invalid number"));
    assert!(bad(r#"userName eq"a""#).contains("expected a space"));
    assert!(bad(r#"a eq "bad \q escape""#).contains("invalid string literal"));
    assert!(bad("userName eq \"a\" at").contains("at byte 16"));
}

#[test]
fn bounds_on_length_and_depth() {
    let long = format!("userName eq \"{}\"", "a".repeat(MAX_FILTER_LEN));
    assert!(bad(&long).contains("at most 4096"));
    assert!(Filter::parse_with_max_len(r#"a eq "bb""#, 5).is_err());

    let nested = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
    assert!(Filter::parse(&nested(MAX_FILTER_DEPTH)).is_ok());
    assert!(bad(&nested(MAX_FILTER_DEPTH + 1)).contains("nesting deeper"));
    let nots = format!(
        "{}a pr{}",
        "not (".repeat(MAX_FILTER_DEPTH + 1),
        ")".repeat(MAX_FILTER_DEPTH + 1)
    );
    assert!(bad(&nots).contains("nesting deeper"));
}

#[test]
fn attribute_paths_for_patch() {
    let ap = AttributePath::parse(r#"members[value eq "2819c223"]"#).unwrap();
    assert_eq!(ap.name, "members");
    assert_eq!(ap.filter.as_deref(), Some(&eq("value", "2819c223")));
    let err = AttributePath::parse("members[value eq").unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
    assert!(AttributePath::parse("name.givenName extra").is_err());
    assert_eq!(
        AttributePath::parse("name.givenName").unwrap().to_string(),
        "name.givenName"
    );
}

fn entra_user() -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "6b3a0c8e",
        "externalId": "AbC-123",
        "userName": "Alice.Smith@Contoso.com",
        "active": true,
        "displayName": "Alice Smith",
        "name": {"givenName": "Alice", "familyName": "Smith"},
        "emails": [
            {"type": "work", "value": "Alice.Smith@contoso.com", "primary": true},
            {"type": "home", "value": "alice@home.example"}
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "department": "Finance",
            "manager": {"value": "m-1"}
        },
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z",
                 "lastModified": "2024-03-01T12:00:00Z", "version": "W/\"3\""}
    })
}

fn okta_user() -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "u-okta",
        "userName": "bob@example.com",
        "active": false,
        "name": {"givenName": "Bob", "familyName": "Jones"},
        "emails": [{"primary": true, "value": "bob@example.com", "type": "work"}],
        "locale": "en-US",
        "meta": {"lastModified": "2024-05-01T09:30:00+02:00"}
    })
}

fn user_matches(filter: &str, user: &serde_json::Value) -> bool {
    p(filter).matches(user, ResourceSchema::user())
}

#[test]
fn user_name_is_case_insensitive_external_id_is_not() {
    let u = entra_user();
    assert!(user_matches(r#"userName eq "alice.smith@contoso.com""#, &u));
    assert!(user_matches(r#"USERNAME EQ "ALICE.SMITH@CONTOSO.COM""#, &u));
    assert!(user_matches(r#"externalId eq "AbC-123""#, &u));
    assert!(!user_matches(r#"externalId eq "abc-123""#, &u));
    assert!(user_matches(r#"id eq "6b3a0c8e""#, &u));
    assert!(!user_matches(r#"id eq "6B3A0C8E""#, &u));
    assert!(user_matches(r#"displayName eq "alice smith""#, &u));
}

#[test]
fn evaluation_of_each_operator_on_users() {
    let u = entra_user();
    assert!(user_matches(r#"userName co "smith@""#, &u));
    assert!(user_matches(r#"userName sw "alice""#, &u));
    assert!(user_matches(r#"userName ew "CONTOSO.COM""#, &u));
    assert!(user_matches(r#"userName ne "bob@example.com""#, &u));
    assert!(user_matches(r#"userName gt "a""#, &u));
    assert!(user_matches(r#"userName lt "b""#, &u));
    assert!(user_matches(r#"userName ge "alice.smith@contoso.com""#, &u));
    assert!(user_matches(r#"userName le "alice.smith@contoso.com""#, &u));
    assert!(
        user_matches("title ne \"x\"", &u),
        "ne holds for an absent attribute"
    );
    assert!(user_matches("title eq null", &u));
    assert!(!user_matches("title pr", &u));
    assert!(user_matches("name.givenName pr", &u));
    assert!(user_matches("active eq true", &u));
    assert!(!user_matches("active eq false", &u));
    assert!(user_matches("name.familyName eq \"smith\"", &u));
}

#[test]
fn multi_valued_and_value_paths() {
    let u = entra_user();
    assert!(user_matches(
        r#"emails[type eq "work"].value eq "alice.smith@contoso.com""#,
        &u
    ));
    assert!(!user_matches(
        r#"emails[type eq "home"].value eq "alice.smith@contoso.com""#,
        &u
    ));
    assert!(user_matches(r#"emails.value eq "alice@home.example""#, &u));
    assert!(
        user_matches(r#"emails co "home.example""#, &u),
        "complex values compare their value"
    );
    assert!(user_matches(
        r#"emails[type eq "work" and primary eq true]"#,
        &u
    ));
    assert!(!user_matches(
        r#"emails[type eq "home" and primary eq true]"#,
        &u
    ));
    assert!(user_matches(r#"emails[not (type eq "work")]"#, &u));
    assert!(user_matches("emails pr", &u));
}

#[test]
fn extension_attributes_qualified_or_not() {
    let u = entra_user();
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    assert!(user_matches(
        &format!("{ent}:employeeNumber eq \"701984\""),
        &u
    ));
    assert!(user_matches(&format!("{ent}:manager.value eq \"m-1\""), &u));
    assert!(user_matches("department eq \"finance\"", &u));
    assert!(user_matches(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ALICE""#,
        &u
    ));
}

#[test]
fn date_time_and_number_comparisons() {
    let o = okta_user();
    // 09:30+02:00 is 07:30Z: later than 07:00Z, earlier than 08:00Z.
    assert!(user_matches(
        r#"meta.lastModified gt "2024-05-01T07:00:00Z""#,
        &o
    ));
    assert!(user_matches(
        r#"meta.lastModified lt "2024-05-01T08:00:00Z""#,
        &o
    ));
    assert!(user_matches(
        r#"meta.lastModified eq "2024-05-01T07:30:00Z""#,
        &o
    ));
    let with_number = json!({"userName": "n", "age": 42});
    assert!(user_matches("age gt 41.5", &with_number));
    assert!(user_matches("age le 42", &with_number));
    assert!(!user_matches("age lt 42", &with_number));
}

#[test]
fn okta_user_boolean_and_locale() {
    let o = okta_user();
    assert!(user_matches("active eq false", &o));
    assert!(user_matches(
        r#"active eq false and userName eq "BOB@example.com""#,
        &o
    ));
    assert!(user_matches(
        r#"locale eq "en-us" or userName eq "nobody""#,
        &o
    ));
    assert!(!user_matches(r#"not (userName eq "bob@example.com")"#, &o));
    let string_bool = json!({"userName": "s", "active": "False"});
    assert!(user_matches("active eq false", &string_bool));
}

#[test]
fn group_filters() {
    let g = json!({"id": "g1", "displayName": "Engineering", "members": [{"value": "u1"}, {"value": "u2"}]});
    let group = ResourceSchema::group();
    assert!(p(r#"displayName eq "engineering""#).matches(&g, group));
    assert!(p(r#"members[value eq "u2"]"#).matches(&g, group));
    assert!(
        !p(r#"members[value eq "U2"]"#).matches(&g, group),
        "member ids are case-exact"
    );
    assert!(p(r#"members.value eq "u1""#).matches(&g, group));
}

#[test]
fn simple_equalities_for_the_store() {
    let simple = |f: &str| p(f).as_simple_eq().map(|(a, v)| (a, v.to_string()));
    assert_eq!(
        simple(r#"userName eq "x""#),
        Some((IndexedAttribute::UserName, "x".into()))
    );
    assert_eq!(
        simple(r#"externalId eq "x""#),
        Some((IndexedAttribute::ExternalId, "x".into()))
    );
    assert_eq!(
        simple(r#"displayName EQ "x""#),
        Some((IndexedAttribute::DisplayName, "x".into()))
    );
    assert_eq!(
        simple(r#"id eq "x""#),
        Some((IndexedAttribute::Id, "x".into()))
    );
    assert_eq!(
        simple(r#"emails.value eq "x""#),
        Some((IndexedAttribute::Email { kind: None }, "x".into()))
    );
    assert_eq!(
        simple(r#"emails[type eq "work"].value eq "x""#),
        Some((
            IndexedAttribute::Email {
                kind: Some("work".into())
            },
            "x".into()
        ))
    );
    assert_eq!(simple(r#"userName ne "x""#), None);
    assert_eq!(simple(r#"userName eq true"#), None);
    assert_eq!(simple(r#"name.givenName eq "x""#), None);
    assert_eq!(simple(r#"emails[primary eq true].value eq "x""#), None);
    assert_eq!(
        simple(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "x""#),
        None
    );
    let hint = p(r#"active eq true and externalId eq "e1""#);
    assert_eq!(hint.as_simple_eq(), None);
    assert_eq!(
        hint.index_hint(),
        Some((IndexedAttribute::ExternalId, "e1"))
    );
    assert_eq!(p(r#"a pr or externalId eq "e1""#).index_hint(), None);
    assert!(IndexedAttribute::Id.case_exact() && !IndexedAttribute::UserName.case_exact());
}

// ---- properties -------------------------------------------------------------------------

fn arb_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,8}".prop_filter("keywords", |n| {
        !["not", "and", "or", "true", "false", "null", "pr"]
            .contains(&n.to_ascii_lowercase().as_str())
    })
}

fn arb_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::String),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

fn arb_op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Co),
        Just(CompareOp::Sw),
        Just(CompareOp::Ew),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
    ]
}

fn arb_plain_path() -> impl Strategy<Value = AttributePath> {
    (
        prop::option::of(Just(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_string(),
        )),
        arb_name(),
        prop::option::of(arb_name()),
    )
        .prop_map(|(urn, name, sub)| AttributePath {
            urn,
            name,
            filter: None,
            sub,
        })
}

/// Filters without value paths: the contents of a `[...]` and the leaves of the outer tree.
fn arb_simple_filter() -> impl Strategy<Value = Filter> {
    let leaf =
        prop_oneof![
            (arb_plain_path(), arb_op(), arb_value())
                .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
            arb_plain_path().prop_map(Filter::Present),
        ];
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let value_path = (
        arb_name(),
        arb_simple_filter(),
        prop::option::of(arb_name()),
        arb_op(),
        arb_value(),
    )
        .prop_map(|(name, filter, sub, op, value)| {
            let path = AttributePath {
                urn: None,
                name,
                filter: Some(Box::new(filter)),
                sub: sub.clone(),
            };
            match sub {
                Some(_) => Filter::Compare { path, op, value },
                None => Filter::ValuePath(path),
            }
        });
    prop_oneof![arb_simple_filter(), value_path].prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

proptest! {
    #[test]
    fn display_parses_back_to_the_same_tree(filter in arb_filter()) {
        let text = filter.to_string();
        let reparsed = Filter::parse_with_max_len(&text, usize::MAX);
        prop_assert_eq!(reparsed.as_ref().ok(), Some(&filter), "{}", text);
    }

    #[test]
    fn parse_never_panics(input in "\\PC{0,200}") {
        let _ = Filter::parse(&input);
        let _ = AttributePath::parse(&input);
    }

    #[test]
    fn parse_never_panics_on_filter_like_input(
        input in r#"[a-z\[\]()"\\ .:$0-9-]{0,80}|(not|and|or|eq|pr|\(|\)|\[|\]|"x"| |userName|emails|\.value|urn:a:b:c)+"#
    ) {
        if let Ok(f) = Filter::parse(&input) {
            let _ = f.matches(&entra_user(), ResourceSchema::user());
            prop_assert_eq!(Filter::parse_with_max_len(&f.to_string(), usize::MAX).ok(), Some(f));
        }
    }
}
