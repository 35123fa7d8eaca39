use serde_json::{Value, json};

use super::*;
use crate::resource::{EnterpriseUser, GroupData, Meta};
use crate::{ScimType, Timestamp};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn user(body: Value) -> User {
    User {
        id: "u-1".into(),
        meta: Meta::new(Timestamp::from_unix_millis(0)),
        data: UserData::from_json(&body).unwrap().data,
    }
}

fn alice() -> User {
    user(json!({
        "userName": "alice@contoso.com",
        "externalId": "ext-1",
        "active": true,
        "displayName": "Alice",
        "name": {"givenName": "Alice", "familyName": "Smith"},
        "emails": [{"type": "work", "value": "alice@contoso.com", "primary": true}],
        (ENT): {"employeeNumber": "1", "department": "Finance"}
    }))
}

fn request(body: Value) -> PatchRequest {
    PatchRequest::parse(&body).unwrap_or_else(|e| panic!("{e}"))
}

/// Applies the PATCH and checks the round trip: rendering and re-parsing the result yields
/// the same user.
fn patched(user: &User, body: Value) -> User {
    let out = apply_user_patch(user, &request(body)).unwrap_or_else(|e| panic!("{e}"));
    let reparsed = UserData::from_stored(&out.to_json("https://x/scim/v2")).unwrap();
    assert_eq!(reparsed, out.data, "round trip");
    assert_eq!(out.id, user.id);
    out
}

fn patch_error(user: &User, body: Value) -> ScimError {
    apply_user_patch(user, &request(body)).unwrap_err()
}

fn group_plan(body: Value) -> GroupChange {
    plan_group_patch("g-1", &request(body), &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn member(id: &str) -> Member {
    Member::new(id)
}

// ---- parsing ----------------------------------------------------------------------------

#[test]
fn parse_is_tolerant_of_casing_and_missing_schemas() {
    let req =
        request(json!({"operations": [{"OP": "Replace", "Path": "active", "VALUE": "False"}]}));
    assert_eq!(req.operations.len(), 1);
    assert_eq!(req.operations[0].op, PatchOp::Replace);
    assert_eq!(req.operations[0].path.as_ref().unwrap().name, "active");
    let req = request(json!({"Operations": {"op": "ADD", "path": "", "value": {"title": "x"}}}));
    assert_eq!(req.operations[0].op, PatchOp::Add);
    assert!(req.operations[0].path.is_none());
}

#[test]
fn parse_errors() {
    let cases = [
        (json!([]), ScimType::InvalidSyntax),
        (json!({"schemas": []}), ScimType::InvalidSyntax),
        (json!({"Operations": "add"}), ScimType::InvalidSyntax),
        (json!({"Operations": []}), ScimType::InvalidValue),
        (
            json!({"Operations": [{"path": "active"}]}),
            ScimType::InvalidSyntax,
        ),
        (
            json!({"Operations": [{"op": "move", "path": "a"}]}),
            ScimType::InvalidSyntax,
        ),
        (
            json!({"Operations": [{"op": "remove"}]}),
            ScimType::NoTarget,
        ),
        (
            json!({"Operations": [{"op": "add", "path": "title"}]}),
            ScimType::InvalidValue,
        ),
        (
            json!({"Operations": [{"op": "add", "path": "emails[type eq", "value": "x"}]}),
            ScimType::InvalidPath,
        ),
        (
            json!({"Operations": [{"op": "add", "path": 5, "value": "x"}]}),
            ScimType::InvalidPath,
        ),
    ];
    for (body, scim_type) in cases {
        let err = PatchRequest::parse(&body).unwrap_err();
        assert_eq!(err.scim_type, Some(scim_type), "{body}");
        assert_eq!(err.status, 400);
    }
}

// ---- users: Entra -----------------------------------------------------------------------

#[test]
fn entra_disable_without_flag_uses_string_false() {
    let out = patched(
        &alice(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
        }),
    );
    assert_eq!(out.data.active(), Some(false));
}

#[test]
fn entra_disable_with_flag_uses_boolean() {
    let out = patched(
        &alice(),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "path": "active", "value": false}]}),
    );
    assert_eq!(out.data.active(), Some(false));
}

#[test]
fn entra_one_op_per_attribute_without_flag() {
    let out = patched(
        &alice(),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "Replace", "path": "displayName", "value": "Alice Jones"},
            {"op": "Replace", "path": "name.familyName", "value": "Jones"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice.jones@contoso.com"},
            {"op": "Replace", "path": format!("{ENT}:department"), "value": "Sales"},
            {"op": "Add", "path": format!("{ENT}:manager"), "value": "m-7"}
        ]}),
    );
    assert_eq!(out.data.display_name(), Some("Alice Jones"));
    assert_eq!(out.data.family_name(), Some("Jones"));
    assert_eq!(
        out.data.given_name(),
        Some("Alice"),
        "other name parts stay"
    );
    assert_eq!(
        out.data.primary_email().as_deref(),
        Some("alice.jones@contoso.com")
    );
    assert_eq!(out.data.emails().len(), 1);
    assert_eq!(out.data.enterprise().department.as_deref(), Some("Sales"));
    assert_eq!(out.data.enterprise().employee_number.as_deref(), Some("1"));
    assert_eq!(out.data.enterprise().manager_id.as_deref(), Some("m-7"));
}

#[test]
fn entra_path_less_replace_with_dotted_and_urn_keys_with_flag() {
    let out = patched(
        &alice(),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{
            "op": "replace",
            "value": {
                "displayName": "Alice S.",
                "name.givenName": "Alicia",
                "name.familyName": "S.",
                "emails[type eq \"work\"].value": "alicia@contoso.com",
                (format!("{ENT}:employeeNumber")): "42",
                (format!("{ENT}:manager")): "m-9",
                "active": false
            }
        }]}),
    );
    let d = &out.data;
    assert_eq!(d.display_name(), Some("Alice S."));
    assert_eq!(
        (d.given_name(), d.family_name()),
        (Some("Alicia"), Some("S."))
    );
    assert_eq!(d.primary_email().as_deref(), Some("alicia@contoso.com"));
    assert_eq!(d.enterprise().employee_number.as_deref(), Some("42"));
    assert_eq!(d.enterprise().manager_id.as_deref(), Some("m-9"));
    assert_eq!(d.active(), Some(false));
}

#[test]
fn entra_add_work_email_to_user_without_one() {
    let u = user(json!({"userName": "nomail"}));
    let out = patched(
        &u,
        json!({"Operations": [{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"}]}),
    );
    assert_eq!(
        out.data.attributes()["emails"],
        json!([{"type": "work", "value": "new@contoso.com"}])
    );
    // Applying it again changes nothing.
    let again = patched(
        &out,
        json!({"Operations": [{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"}]}),
    );
    assert_eq!(again.data, out.data);
}

#[test]
fn entra_enterprise_object_in_path_less_value() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "add", "value": {(ENT): {"costCenter": "CC-9", "manager": {"value": "m-1"}}}}]}),
    );
    assert_eq!(out.data.enterprise().cost_center.as_deref(), Some("CC-9"));
    assert_eq!(out.data.enterprise().department.as_deref(), Some("Finance"));
    assert_eq!(out.data.enterprise().manager_id.as_deref(), Some("m-1"));
}

#[test]
fn remove_enterprise_attribute_and_whole_extension() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "Remove", "path": format!("{ENT}:department")}]}),
    );
    assert_eq!(out.data.enterprise().department, None);
    let out = patched(
        &out,
        json!({"Operations": [{"op": "Remove", "path": format!("{ENT}:employeeNumber")}]}),
    );
    assert!(
        !out.data.attributes().contains_key(ENT),
        "an emptied extension disappears"
    );
    assert_eq!(
        out.to_json("https://x")["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
}

// ---- users: Okta ------------------------------------------------------------------------

#[test]
fn okta_path_less_deactivate() {
    let out = patched(
        &alice(),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "value": {"active": false}}]}),
    );
    assert_eq!(out.data.active(), Some(false));
    assert_eq!(out.data.user_name(), "alice@contoso.com");
}

#[test]
fn okta_path_less_replace_ignores_read_only_and_password() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "replace", "value": {
            "id": "u-1", "password": "secret", "groups": [], "meta": {}, "schemas": [], "locale": "fr-FR"}}]}),
    );
    assert_eq!(out.data.attributes()["locale"], "fr-FR");
    assert!(!out.data.attributes().contains_key("password"));
}

// ---- users: RFC semantics ---------------------------------------------------------------

#[test]
fn add_to_multi_valued_appends_without_duplicates_and_keeps_one_primary() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "add", "path": "emails", "value": [
            {"type": "home", "value": "alice@home.example", "primary": true},
            {"type": "work", "value": "ALICE@contoso.com"}
        ]}]}),
    );
    let emails = out.data.emails();
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert_eq!(emails.iter().filter(|e| e.primary).count(), 1);
    assert_eq!(
        out.data.primary_email().as_deref(),
        Some("alice@home.example")
    );
}

#[test]
fn replace_multi_valued_without_filter_replaces_all() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "replace", "path": "emails", "value": [{"type": "home", "value": "h@x"}]}]}),
    );
    assert_eq!(
        out.data.attributes()["emails"],
        json!([{"type": "home", "value": "h@x"}])
    );
}

#[test]
fn replace_with_filter_without_match_and_not_creatable_is_no_target() {
    let err = patch_error(
        &alice(),
        json!({"Operations": [{"op": "replace", "path": "emails[value co \"zzz\"].type", "value": "home"}]}),
    );
    assert_eq!(err.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn replace_matching_value_entirely() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "replace", "path": "emails[type eq \"work\"]",
                                "value": {"type": "work", "value": "w2@contoso.com"}}]}),
    );
    assert_eq!(
        out.data.attributes()["emails"],
        json!([{"type": "work", "value": "w2@contoso.com"}])
    );
}

#[test]
fn remove_by_filter_by_value_list_and_whole() {
    let u = user(json!({"userName": "u", "emails": [
        {"type": "work", "value": "w@x"}, {"type": "home", "value": "h@x"}, {"type": "other", "value": "o@x"}]}));
    let out = patched(
        &u,
        json!({"Operations": [{"op": "remove", "path": "emails[type eq \"home\"]"}]}),
    );
    assert_eq!(out.data.emails().len(), 2);
    let out = patched(
        &out,
        json!({"Operations": [{"op": "remove", "path": "emails", "value": [{"value": "O@X"}]}]}),
    );
    assert_eq!(
        out.data
            .emails()
            .iter()
            .map(|e| e.value.as_str())
            .collect::<Vec<_>>(),
        ["w@x"]
    );
    let out = patched(
        &out,
        json!({"Operations": [{"op": "remove", "path": "emails[type eq \"nothing\"]"}]}),
    );
    assert_eq!(out.data.emails().len(), 1, "removing nothing is fine");
    let out = patched(
        &out,
        json!({"Operations": [{"op": "remove", "path": "emails"}]}),
    );
    assert!(out.data.emails().is_empty());
    assert!(!out.data.attributes().contains_key("emails"));
}

#[test]
fn remove_sub_attribute_and_single_value() {
    let out = patched(
        &alice(),
        json!({"Operations": [
            {"op": "remove", "path": "name.givenName"},
            {"op": "remove", "path": "displayName"},
            {"op": "remove", "path": "emails[type eq \"work\"].primary"}
        ]}),
    );
    assert_eq!(out.data.given_name(), None);
    assert_eq!(out.data.family_name(), Some("Smith"));
    assert_eq!(out.data.display_name(), None);
    assert!(!out.data.emails()[0].primary);
    let out = patched(
        &out,
        json!({"Operations": [{"op": "remove", "path": "name.familyName"}]}),
    );
    assert!(!out.data.attributes().contains_key("name"));
}

#[test]
fn read_only_and_required_attributes_are_protected() {
    let u = alice();
    let err = patch_error(
        &u,
        json!({"Operations": [{"op": "replace", "path": "id", "value": "other"}]}),
    );
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
    let err = patch_error(
        &u,
        json!({"Operations": [{"op": "replace", "value": {"id": "other"}}]}),
    );
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
    let err = patch_error(
        &u,
        json!({"Operations": [{"op": "add", "path": "groups", "value": [{"value": "g"}]}]}),
    );
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
    let err = patch_error(
        &u,
        json!({"Operations": [{"op": "replace", "path": "meta.created", "value": "x"}]}),
    );
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
    let err = patch_error(
        &u,
        json!({"Operations": [{"op": "remove", "path": "userName"}]}),
    );
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    let err = patch_error(
        &u,
        json!({"Operations": [{"op": "replace", "path": "active", "value": "perhaps"}]}),
    );
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    // Replacing id with itself is harmless.
    patched(
        &u,
        json!({"Operations": [{"op": "replace", "path": "id", "value": "u-1"}]}),
    );
}

#[test]
fn unknown_attributes_are_ignored_and_unknown_extension_attributes_kept() {
    let out = patched(
        &alice(),
        json!({"Operations": [
            {"op": "replace", "path": "favouriteColour", "value": "teal"},
            {"op": "add", "path": "urn:example:custom:1.0:User:badge", "value": "B1"},
            {"op": "add", "path": format!("{ENT}:badge"), "value": "B2"},
            {"op": "remove", "path": "nickName"}
        ]}),
    );
    assert!(!out.data.attributes().contains_key("favouriteColour"));
    assert_eq!(out.data.attributes()[ENT]["badge"], "B2");
}

#[test]
fn user_name_change_and_case_preservation() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "Replace", "path": "USERNAME", "value": "Alice.New@Contoso.com"}]}),
    );
    assert_eq!(out.data.user_name(), "Alice.New@Contoso.com");
    assert!(!out.data.attributes().contains_key("USERNAME"));
}

// ---- groups -----------------------------------------------------------------------------

#[test]
fn entra_member_add_with_value_list() {
    let change = group_plan(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}]}),
    );
    assert_eq!(
        change.members,
        [MembersChange::Add(vec![member("u1"), member("u2")])]
    );
    assert!(change.changes_members());
}

#[test]
fn entra_member_removal_by_value_list_removes_only_those() {
    let change = group_plan(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": "members", "value": [{"value": "u2"}]}]}),
    );
    assert_eq!(change.members, [MembersChange::Remove(vec!["u2".into()])]);
    let mut members = vec![member("u1"), member("u2"), member("u3")];
    apply_group_change_to_members(&mut members, &change.members);
    assert_eq!(members, [member("u1"), member("u3")]);
}

#[test]
fn entra_member_removal_by_filter_with_flag() {
    let change = group_plan(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": "members[value eq \"u3\"]"}]}),
    );
    assert_eq!(change.members, [MembersChange::Remove(vec!["u3".into()])]);
    let change = group_plan(json!({"Operations": [
        {"op": "remove", "path": "members[value eq \"u1\" or value eq \"u2\" or VALUE EQ \"u1\"]"}]}));
    assert_eq!(
        change.members,
        [MembersChange::Remove(vec!["u1".into(), "u2".into()])]
    );
}

#[test]
fn entra_display_name_replace() {
    let change = group_plan(
        json!({"Operations": [{"op": "Replace", "path": "displayName", "value": "Renamed"}]}),
    );
    assert_eq!(change.display_name.as_deref(), Some("Renamed"));
    assert!(change.members.is_empty());
}

#[test]
fn okta_group_push_add_without_type() {
    let change = group_plan(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": "00u1", "display": "bob@example.com"}]}]}),
    );
    assert_eq!(
        change.members,
        [MembersChange::Add(vec![Member {
            value: "00u1".into(),
            display: Some("bob@example.com".into()),
            kind: None
        }])]
    );
}

#[test]
fn okta_push_now_on_empty_group_replaces_with_nothing() {
    let change = group_plan(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "members", "value": []}]}),
    );
    assert_eq!(change.members, [MembersChange::ReplaceAll(vec![])]);
    let mut members = vec![member("u1")];
    apply_group_change_to_members(&mut members, &change.members);
    assert!(members.is_empty());
}

#[test]
fn okta_rename_via_path_less_replace_with_id() {
    let change = group_plan(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"id": "g-1", "displayName": "Okta Renamed"}}]}),
    );
    assert_eq!(
        change,
        GroupChange {
            display_name: Some("Okta Renamed".into()),
            ..GroupChange::default()
        }
    );
    let err = plan_group_patch(
        "g-1",
        &request(
            json!({"Operations": [{"op": "replace", "value": {"id": "g-2", "displayName": "x"}}]}),
        ),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
}

#[test]
fn jumpcloud_repeated_identical_add_is_idempotent() {
    let body =
        json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "u1"}]}]});
    let mut group = GroupData {
        display_name: "g".into(),
        external_id: None,
        members: vec![member("u0")],
    };
    for _ in 0..3 {
        group.apply_change(&group_plan(body.clone()));
    }
    assert_eq!(group.members, [member("u0"), member("u1")]);
    // Within one request too.
    let twice = group_plan(json!({"Operations": [
        {"op": "add", "path": "members", "value": [{"value": "u1"}]},
        {"op": "add", "path": "members", "value": [{"value": "u1"}]}]}));
    group.apply_change(&twice);
    assert_eq!(group.members, [member("u0"), member("u1")]);
}

#[test]
fn wso2_path_less_add_of_members() {
    let change = group_plan(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "value": {"members": [{"value": "u5", "display": "five"}]}}]}),
    );
    assert_eq!(
        change.members,
        [MembersChange::Add(vec![Member {
            value: "u5".into(),
            display: Some("five".into()),
            kind: None
        }])]
    );
}

#[test]
fn remove_members_without_value_removes_all() {
    let change = group_plan(json!({"Operations": [{"op": "remove", "path": "members"}]}));
    assert_eq!(change.members, [MembersChange::RemoveAll]);
}

#[test]
fn steps_keep_request_order() {
    let change = group_plan(json!({"Operations": [
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
        {"op": "remove", "path": "members[value eq \"a\"]"},
        {"op": "replace", "path": "externalId", "value": "x-1"},
        {"op": "remove", "path": "externalId"}
    ]}));
    assert_eq!(
        change.members,
        [
            MembersChange::RemoveAll,
            MembersChange::Add(vec![member("a"), member("b")]),
            MembersChange::Remove(vec!["a".into()]),
        ]
    );
    assert_eq!(change.external_id, Some(None));
    let mut members = vec![member("old")];
    apply_group_change_to_members(&mut members, &change.members);
    assert_eq!(members, [member("b")]);
}

#[test]
fn group_patch_errors() {
    let plan = |body: Value| plan_group_patch("g-1", &request(body), &Limits::default());
    let err = plan(json!({"Operations": [{"op": "remove", "path": "members[display eq \"x\"]"}]}))
        .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
    let err = plan(json!({"Operations": [{"op": "replace", "path": "members[value eq \"x\"].display", "value": "y"}]}))
        .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
    let err = plan(json!({"Operations": [{"op": "remove", "path": "displayName"}]})).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    let err = plan(json!({"Operations": [{"op": "replace", "path": "displayName", "value": ""}]}))
        .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    let err = plan(
        json!({"Operations": [{"op": "add", "path": "members", "value": [{"display": "no id"}]}]}),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    let err =
        plan(json!({"Operations": [{"op": "replace", "path": "meta", "value": {}}]})).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
    // Unknown attributes change nothing.
    assert!(
        plan(json!({"Operations": [{"op": "replace", "path": "description", "value": "x"}]}))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn member_values_per_request_are_bounded() {
    let limits = Limits {
        max_members_per_request: 3,
        ..Limits::default()
    };
    let values: Vec<Value> = (0..4).map(|i| json!({"value": format!("u{i}")})).collect();
    let body = json!({"Operations": [{"op": "add", "path": "members", "value": values}]});
    let err = plan_group_patch("g-1", &request(body), &limits).unwrap_err();
    assert_eq!(err.status, 413);
    let split = json!({"Operations": [
        {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
        {"op": "remove", "path": "members[value eq \"c\" or value eq \"d\"]"}]});
    assert_eq!(
        plan_group_patch("g-1", &request(split), &limits)
            .unwrap_err()
            .status,
        413
    );
    let ok = json!({"Operations": [{"op": "remove", "path": "members"},
                                    {"op": "add", "path": "members", "value": [{"value": "a"}]}]});
    assert!(plan_group_patch("g-1", &request(ok), &limits).is_ok());
}

#[test]
fn group_change_applies_names_in_memory() {
    let mut group = GroupData {
        display_name: "old".into(),
        external_id: Some("e".into()),
        members: vec![],
    };
    let change = group_plan(json!({"Operations": [
        {"op": "replace", "path": "displayName", "value": "new"},
        {"op": "add", "value": {"externalId": "e2", "members": [{"value": "u1"}]}}]}));
    group.apply_change(&change);
    assert_eq!(group.display_name, "new");
    assert_eq!(group.external_id.as_deref(), Some("e2"));
    assert_eq!(group.members, [member("u1")]);
    assert!(
        !group_plan(json!({"Operations": [{"op": "add", "path": "members", "value": []}]}))
            .changes_members()
    );
}

// ---- properties -------------------------------------------------------------------------

mod properties {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            prop_oneof![
                Just("False".to_string()),
                Just("u-1".to_string()),
                Just("work".to_string()),
                "[a-zA-Z@. ]{0,12}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            let key = prop_oneof![
                Just("value".to_string()),
                Just("type".to_string()),
                Just("primary".to_string()),
                Just("display".to_string()),
                Just("givenName".to_string()),
                Just("name.familyName".to_string()),
                Just("active".to_string()),
                Just("userName".to_string()),
                Just("emails".to_string()),
                Just("members".to_string()),
                Just("displayName".to_string()),
                Just("id".to_string()),
                Just(ENT.to_string()),
                Just(format!("{ENT}:manager")),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_path() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop_oneof![
            Just("active".to_string()),
            Just("userName".to_string()),
            Just("name".to_string()),
            Just("name.givenName".to_string()),
            Just("emails".to_string()),
            Just("emails.value".to_string()),
            Just("emails[type eq \"work\"]".to_string()),
            Just("emails[type eq \"work\"].value".to_string()),
            Just("emails[value co \"@\" or primary eq true].type".to_string()),
            Just("members".to_string()),
            Just("members[value eq \"u1\"]".to_string()),
            Just("displayName".to_string()),
            Just("externalId".to_string()),
            Just("id".to_string()),
            Just("meta.created".to_string()),
            Just(format!("{ENT}:manager")),
            Just(format!("{ENT}:manager.value")),
            Just(format!("{ENT}:department")),
            Just(ENT.to_string()),
            Just("active".to_string()),
            Just("groups".to_string()),
            "[a-zA-Z\\[\\]\". ]{0,16}",
        ])
    }

    fn arb_request() -> impl Strategy<Value = Value> {
        let op = (
            prop_oneof![Just("add"), Just("Replace"), Just("REMOVE"), Just("move")],
            arb_path(),
            arb_json(),
        )
            .prop_map(|(op, path, value)| {
                let mut object = json!({"op": op, "value": value});
                if let Some(path) = path {
                    object["path"] = Value::String(path);
                }
                object
            });
        prop::collection::vec(op, 1..4).prop_map(|ops| json!({"Operations": ops}))
    }

    proptest! {
        #[test]
        fn user_patches_never_panic_and_results_round_trip(body in arb_request()) {
            if let Ok(request) = PatchRequest::parse(&body)
                && let Ok(out) = apply_user_patch(&alice(), &request)
            {
                prop_assert!(!out.data.user_name().is_empty());
                let reparsed = UserData::from_stored(&out.to_json("https://x")).unwrap();
                prop_assert_eq!(reparsed, out.data);
            }
        }

        #[test]
        fn group_plans_never_panic_and_apply_idempotently(body in arb_request()) {
            if let Ok(request) = PatchRequest::parse(&body)
                && let Ok(change) = plan_group_patch("g-1", &request, &Limits::default())
            {
                let mut once = vec![member("u1"), member("u2")];
                apply_group_change_to_members(&mut once, &change.members);
                let mut ids: Vec<&str> = once.iter().map(|m| m.value.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                prop_assert_eq!(ids.len(), once.len(), "no duplicate members");
            }
        }

        #[test]
        fn user_bodies_never_panic(body in arb_json()) {
            if let Ok(parsed) = UserData::from_json(&body) {
                let user = User { id: "u".into(), meta: Meta::new(Timestamp::from_unix_millis(0)), data: parsed.data };
                let reparsed = UserData::from_json(&user.to_json("https://x")).unwrap().data;
                prop_assert_eq!(reparsed, user.data);
            }
            let _ = crate::resource::GroupData::from_json(&body);
        }
    }
}

// ---- the enterprise extension as a whole, and `active` removed ----------------------------

#[test]
fn add_of_the_whole_extension_by_its_urn_sets_the_attributes_it_names() {
    let bare = user(json!({"userName": "bob@contoso.com"}));
    let value = json!({
        "employeeNumber": "42",
        "costCenter": "CC-1",
        "manager": {"value": "u-9", "displayName": "Boss"}
    });
    let out = patched(
        &bare,
        json!({"Operations": [{"op": "add", "path": ENT, "value": value}]}),
    );
    let ent = out.data.enterprise();
    assert_eq!(ent.employee_number.as_deref(), Some("42"));
    assert_eq!(ent.cost_center.as_deref(), Some("CC-1"));
    assert_eq!(ent.manager_id.as_deref(), Some("u-9"));
    let shown = out.to_json("https://x/scim/v2");
    assert_eq!(shown["schemas"][1], ENT);
    assert_eq!(shown[ENT]["employeeNumber"], "42");
}

#[test]
fn replace_of_the_whole_extension_by_its_urn_keeps_attributes_it_does_not_name() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "Replace", "path": ENT.to_uppercase(), "value": {"department": "R&D", "division": "East"}}]}),
    );
    let ent = out.data.enterprise();
    assert_eq!(ent.department.as_deref(), Some("R&D"));
    assert_eq!(ent.division.as_deref(), Some("East"));
    assert_eq!(
        ent.employee_number.as_deref(),
        Some("1"),
        "not named: unchanged"
    );
}

#[test]
fn path_less_values_keyed_by_the_extension_urn_set_its_attributes() {
    for op in ["add", "replace"] {
        let out = patched(
            &alice(),
            json!({"Operations": [{"op": op, "value": {(ENT): {"costCenter": "9"}, "displayName": "A."}}]}),
        );
        assert_eq!(
            out.data.enterprise().cost_center.as_deref(),
            Some("9"),
            "{op}"
        );
        assert_eq!(
            out.data.enterprise().department.as_deref(),
            Some("Finance"),
            "{op}"
        );
        assert_eq!(out.data.display_name(), Some("A."), "{op}");
    }
}

#[test]
fn the_whole_extension_must_be_set_to_an_object() {
    let e = patch_error(
        &alice(),
        json!({"Operations": [{"op": "add", "path": ENT, "value": "x"}]}),
    );
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn remove_of_the_extension_by_its_urn_drops_it() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "remove", "path": ENT}]}),
    );
    assert_eq!(out.data.enterprise(), EnterpriseUser::default());
    let shown = out.to_json("https://x/scim/v2");
    assert!(shown.get(ENT).is_none(), "{shown}");
    assert_eq!(
        shown["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
    // Core attributes are untouched, and removing an absent extension is a no-op.
    assert_eq!(out.data.display_name(), Some("Alice"));
    let again = patched(&out, json!({"Operations": [{"op": "remove", "path": ENT}]}));
    assert_eq!(again.data, out.data);
}

#[test]
fn removing_active_leaves_it_unassigned_and_decides_nothing() {
    let out = patched(
        &alice(),
        json!({"Operations": [{"op": "remove", "path": "active"}]}),
    );
    assert_eq!(out.data.active(), None);
    assert!(out.to_json("https://x/scim/v2").get("active").is_none());
    // A deactivated user whose `active` is removed is not thereby reactivated: the status is
    // unassigned, which the caller reads as "unchanged".
    let deactivated = patched(
        &alice(),
        json!({"Operations": [{"op": "replace", "path": "active", "value": "False"}]}),
    );
    assert_eq!(deactivated.data.active(), Some(false));
    let removed = patched(
        &deactivated,
        json!({"Operations": [{"op": "remove", "path": "active"}]}),
    );
    assert_eq!(removed.data.active(), None);
    // Setting it again assigns it again.
    let back = patched(
        &removed,
        json!({"Operations": [{"op": "add", "path": "active", "value": true}]}),
    );
    assert_eq!(back.data.active(), Some(true));
}
