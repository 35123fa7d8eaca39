use serde_json::json;

use super::*;
use crate::{ScimType, schema::USER_SCHEMA};

const BASE: &str = "https://team.example.com/scim/idp-1/v2";

fn meta() -> Meta {
    Meta {
        created: Timestamp::parse_rfc3339("2024-01-01T00:00:00Z").unwrap(),
        last_modified: Timestamp::parse_rfc3339("2024-02-01T10:00:00Z").unwrap(),
        version: 3,
    }
}

fn parse_user(body: serde_json::Value) -> ParsedUser {
    UserData::from_json(&body).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn okta_create_body_drops_password_groups_and_unknowns() {
    let parsed = parse_user(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bob@example.com",
        "name": {"givenName": "Bob", "familyName": "Jones"},
        "emails": [{"primary": true, "value": "bob@example.com", "type": "work"}],
        "displayName": "Bob Jones",
        "locale": "en-US",
        "externalId": "00u1abcd",
        "groups": [],
        "password": "hunter2!",
        "active": true,
        "id": "client-chosen",
        "meta": {"version": "W/\"99\""},
        "favouriteColour": "teal"
    }));
    assert!(parsed.password_supplied);
    let data = parsed.data;
    let attrs = data.attributes();
    for gone in [
        "password",
        "groups",
        "id",
        "meta",
        "schemas",
        "favouriteColour",
    ] {
        assert!(!attrs.contains_key(gone), "{gone} kept");
    }
    assert_eq!(data.user_name(), "bob@example.com");
    assert_eq!(data.external_id(), Some("00u1abcd"));
    assert_eq!(data.display_name(), Some("Bob Jones"));
    assert_eq!(attrs["locale"], "en-US");
    assert_eq!(data.given_name(), Some("Bob"));
    assert_eq!(data.family_name(), Some("Jones"));
    assert_eq!(data.active(), Some(true));
    assert_eq!(data.primary_email().as_deref(), Some("bob@example.com"));
}

#[test]
fn entra_create_body_with_enterprise_extension() {
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let parsed = parse_user(json!({
        "schemas": [USER_SCHEMA, ent],
        "externalId": "AbC-123",
        "userName": "Alice.Smith@Contoso.com",
        "active": "True",
        "emails": [{"type": "work", "value": "Alice.Smith@contoso.com", "primary": "true"}],
        "name": {"givenName": "Alice", "familyName": "Smith", "Formatted": "Alice Smith"},
        (ent): {"employeeNumber": 701984, "department": "Finance", "manager": "m-1", "customBadge": "B7"},
        "urn:example:unknown:1.0:User": {"foo": "bar"}
    }));
    assert!(!parsed.password_supplied);
    let data = parsed.data;
    assert_eq!(data.active(), Some(true), "\"True\" is a boolean");
    assert_eq!(
        data.user_name(),
        "Alice.Smith@Contoso.com",
        "stored verbatim"
    );
    assert_eq!(
        data.attributes()["name"]["formatted"],
        "Alice Smith",
        "sub-attribute names canonicalised"
    );
    let enterprise = data.enterprise();
    assert_eq!(enterprise.employee_number.as_deref(), Some("701984"));
    assert_eq!(enterprise.department.as_deref(), Some("Finance"));
    assert_eq!(
        enterprise.manager_id.as_deref(),
        Some("m-1"),
        "a bare manager id is its value"
    );
    assert_eq!(
        data.attributes()[ent]["customBadge"],
        "B7",
        "unknown attributes of a known extension stay"
    );
    assert!(
        !data
            .attributes()
            .contains_key("urn:example:unknown:1.0:User")
    );
    assert!(data.emails()[0].primary, "\"true\" is a boolean");
}

#[test]
fn values_are_kept_verbatim() {
    let data =
        parse_user(json!({"userName": "  Spaced@Example.COM ", "displayName": " Name "})).data;
    assert_eq!(data.user_name(), "  Spaced@Example.COM ");
    assert_eq!(data.display_name(), Some(" Name "));
}

#[test]
fn required_and_typed_values_are_checked() {
    let err = UserData::from_json(&json!({"displayName": "x"})).unwrap_err();
    assert_eq!(
        (err.status, err.scim_type),
        (400, Some(ScimType::InvalidValue))
    );
    assert!(err.detail.contains("userName"));
    assert!(UserData::from_json(&json!({"userName": ""})).is_err());
    assert!(UserData::from_json(&json!({"userName": null})).is_err());
    let err = UserData::from_json(&json!(["not", "an", "object"])).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
    let err = UserData::from_json(&json!({"userName": "a", "active": "maybe"})).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    assert!(err.detail.contains("active"));
    assert!(UserData::from_json(&json!({"userName": "a", "name": 5})).is_err());
    assert!(
        UserData::from_json(&json!({"userName": "a", "emails": [{"value": {"x": 1}}]})).is_err()
    );
}

#[test]
fn tolerant_shapes() {
    // A single object where a list is expected, a one-element list for a single value.
    let data = parse_user(json!({
        "userName": ["solo@example.com"],
        "emails": {"value": "solo@example.com"},
        "active": "FALSE",
        "USERTYPE": "Employee",
        "name.givenName": "Solo",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter": "CC1"
    }))
    .data;
    assert_eq!(data.user_name(), "solo@example.com");
    assert_eq!(data.emails().len(), 1);
    assert_eq!(data.active(), Some(false));
    assert_eq!(data.attributes()["userType"], "Employee");
    assert_eq!(data.given_name(), Some("Solo"));
    assert_eq!(data.enterprise().cost_center.as_deref(), Some("CC1"));
}

#[test]
fn active_defaults_to_true() {
    assert_eq!(
        parse_user(json!({"userName": "a"})).data.active(),
        Some(true)
    );
}

#[test]
fn primary_email_choice() {
    let email = |body: serde_json::Value| parse_user(body).data.primary_email();
    assert_eq!(
        email(json!({"userName": "u", "emails": [
            {"type": "home", "value": "home@x"}, {"type": "work", "value": "work@x"},
            {"type": "other", "value": "p@x", "primary": true}]})),
        Some("p@x".into())
    );
    assert_eq!(
        email(
            json!({"userName": "u", "emails": [{"type": "home", "value": "home@x"}, {"type": "Work", "value": "work@x"}]})
        ),
        Some("work@x".into())
    );
    assert_eq!(
        email(json!({"userName": "u", "emails": [{"value": "first@x"}]})),
        Some("first@x".into())
    );
    assert_eq!(
        email(json!({"userName": "user@example.com"})),
        Some("user@example.com".into())
    );
    assert_eq!(email(json!({"userName": "jdoe"})), None);
    assert_eq!(email(json!({"userName": "@x"})), None);
}

#[test]
fn user_json_has_id_schemas_and_meta() {
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let data =
        parse_user(json!({"userName": "a@x", (ent): {"department": "R&D"}, "password": "p"})).data;
    let user = User {
        id: "u-1".into(),
        meta: meta(),
        data,
    };
    let out = user.to_json(&format!("{BASE}/"));
    assert_eq!(out["id"], "u-1");
    assert_eq!(out["schemas"], json!([USER_SCHEMA, ent]));
    assert_eq!(out["meta"]["resourceType"], "User");
    assert_eq!(out["meta"]["created"], "2024-01-01T00:00:00Z");
    assert_eq!(out["meta"]["lastModified"], "2024-02-01T10:00:00Z");
    assert_eq!(out["meta"]["location"], format!("{BASE}/Users/u-1"));
    assert_eq!(out["meta"]["version"], "W/\"3\"");
    assert_eq!(out["active"], true);
    assert!(out.get("password").is_none());

    let plain = User {
        id: "u-2".into(),
        meta: meta(),
        data: parse_user(json!({"userName": "b"})).data,
    };
    assert_eq!(plain.to_json(BASE)["schemas"], json!([USER_SCHEMA]));
}

#[test]
fn user_json_parses_back_to_the_same_data() {
    let data = parse_user(json!({
        "userName": "r@x", "name": {"givenName": "R"}, "emails": [{"value": "r@x", "type": "work"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m"}}
    }))
    .data;
    let user = User {
        id: "u".into(),
        meta: meta(),
        data: data.clone(),
    };
    assert_eq!(UserData::from_json(&user.to_json(BASE)).unwrap().data, data);
}

#[test]
fn meta_versions_and_etags() {
    let created = Timestamp::from_unix_millis(1_000);
    let m = Meta::new(created);
    assert_eq!(
        (m.version, m.created, m.last_modified),
        (1, created, created)
    );
    let later = Timestamp::from_unix_millis(2_000);
    let t = m.touched(later);
    assert_eq!((t.version, t.created, t.last_modified), (2, created, later));
    assert_eq!(t.etag(), "W/\"2\"");
    assert_eq!(etag(7), "W/\"7\"");
}

#[test]
fn if_match_forms() {
    assert!(etag_matches("W/\"3\"", 3));
    assert!(etag_matches("\"3\"", 3));
    assert!(etag_matches("3", 3));
    assert!(etag_matches("*", 3));
    assert!(etag_matches("W/\"1\", W/\"3\"", 3));
    assert!(etag_matches(" w/\"3\" ", 3));
    assert!(!etag_matches("W/\"2\"", 3));
    assert!(!etag_matches("W/\"33\"", 3));
    assert!(!etag_matches("", 3));
}

#[test]
fn group_body_members_and_rendering() {
    let data = GroupData::from_json(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Engineering",
        "externalId": "grp-1",
        "id": "ignored",
        "members": [
            {"value": "u1", "display": "Alice", "type": "User"},
            {"value": "u2"},
            {"value": "u1", "display": "Alice again"},
            {"value": "g9", "type": "Group"}
        ]
    }))
    .unwrap();
    assert_eq!(data.display_name, "Engineering");
    assert_eq!(data.external_id.as_deref(), Some("grp-1"));
    assert_eq!(data.members.len(), 3, "duplicate member ids collapse");
    assert_eq!(
        data.members[0],
        Member {
            value: "u1".into(),
            display: Some("Alice".into()),
            kind: Some("User".into())
        }
    );
    let group = Group {
        id: "g-1".into(),
        meta: meta(),
        data,
    };
    let out = group.to_json(BASE);
    assert_eq!(
        out["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])
    );
    assert_eq!(out["members"][0]["$ref"], format!("{BASE}/Users/u1"));
    assert_eq!(out["members"][2]["$ref"], format!("{BASE}/Groups/g9"));
    assert_eq!(out["meta"]["location"], format!("{BASE}/Groups/g-1"));
    assert_eq!(out["meta"]["resourceType"], "Group");
    assert_eq!(
        GroupData::from_json(&out).unwrap(),
        group.data,
        "rendered groups parse back"
    );

    let empty = Group {
        data: GroupData {
            members: vec![],
            ..group.data.clone()
        },
        ..group
    };
    assert!(empty.to_json(BASE).get("members").is_none());
}

#[test]
fn group_body_errors() {
    let err = GroupData::from_json(&json!({"members": []})).unwrap_err();
    assert!(err.detail.contains("displayName"));
    let err = GroupData::from_json(&json!({"displayName": "g", "members": [{"display": "no id"}]}))
        .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    assert!(GroupData::from_json(&json!({"displayName": "g", "members": [true]})).is_err());
    assert!(GroupData::from_json(&json!("g")).is_err());
}

#[test]
fn request_bodies_default_active_but_stored_attributes_are_taken_as_they_are() {
    let body = json!({"userName": "a"});
    assert_eq!(parse_user(body.clone()).data.active(), Some(true));
    let stored = UserData::from_stored(&body).unwrap();
    assert_eq!(
        stored.active(),
        None,
        "a removed `active` stays removed when read back"
    );
    assert!(stored.attributes().get("active").is_none());
    assert!(
        UserData::from_stored(&json!({"active": false})).is_err(),
        "userName is still required"
    );
}
