use serde_json::{Value, json};

use super::*;
use crate::ScimType;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn limits() -> Limits {
    Limits {
        max_results: 100,
        ..Limits::default()
    }
}

fn q(query: &str) -> ListQuery {
    ListQuery::parse(query, &limits()).unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn user(id: &str, user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": id,
        "userName": user_name,
        "name": {"givenName": "G", "familyName": "F"},
        "emails": [{"type": "work", "value": format!("{id}@x"), "primary": true}, {"type": "home", "value": "h@x"}],
        (ENT): {"department": "D", "employeeNumber": "7"},
        "meta": {"resourceType": "User"}
    })
}

#[test]
fn defaults() {
    let query = q("");
    assert_eq!(
        (query.start_index, query.count, query.offset()),
        (1, 100, 0)
    );
    assert!(query.filter.is_none() && query.attributes.is_empty() && query.sort_by.is_none());
    assert_eq!(query.sort_order, SortOrder::Ascending);
}

#[test]
fn okta_test_connection_and_user_lookup() {
    let query = q("startIndex=1&count=2");
    assert_eq!((query.start_index, query.count), (1, 2));
    let query = q("filter=userName%20eq%20%22bob%40example.com%22&startIndex=1&count=100");
    assert_eq!(
        query.filter.unwrap().as_simple_eq(),
        Some((crate::IndexedAttribute::UserName, "bob@example.com"))
    );
}

#[test]
fn entra_queries() {
    let query = q("?filter=userName+eq+%22Alice%40contoso.com%22");
    assert!(query.filter.is_some());
    let query = q("excludedAttributes=members&filter=displayName+eq+%22Sales%22");
    assert_eq!(query.excluded_attributes, [AttributePath::new("members")]);
    assert!(!query.returns("members", ResourceSchema::group()));
    assert!(query.returns("displayName", ResourceSchema::group()));
    assert!(query.returns("id", ResourceSchema::group()));
}

#[test]
fn paging_is_forgiving() {
    assert_eq!(q("startIndex=0").start_index, 1);
    assert_eq!(q("startIndex=-5").start_index, 1);
    assert_eq!(q("count=-1").count, 0);
    assert_eq!(q("count=100000").count, 100);
    assert_eq!(q("count=99999999999999999999999").count, 100);
    assert_eq!(
        q("startIndex=99999999999999999999999").start_index,
        i64::MAX as usize
    );
    assert_eq!(q("startIndex=3").offset(), 2);
    assert_eq!(q("COUNT=5&StartIndex=2").count, 5);
    for bad in [
        "count=abc",
        "startIndex=1.5",
        "count=",
        "sortOrder=sideways",
    ] {
        let err = ListQuery::parse(bad, &limits()).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{bad}");
    }
}

#[test]
fn lists_and_sorting_parameters() {
    let query = q(
        "attributes=userName,%20name.givenName,,emails&sortBy=name.familyName&sortOrder=DESCENDING&unknown=1",
    );
    assert_eq!(query.attributes.len(), 3);
    assert_eq!(query.attributes[1].sub.as_deref(), Some("givenName"));
    assert_eq!(
        query.sort_by.as_ref().map(ToString::to_string).as_deref(),
        Some("name.familyName")
    );
    assert_eq!(query.sort_order, SortOrder::Descending);
    let err = ListQuery::parse("attributes=emails[", &limits()).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
}

#[test]
fn bad_or_long_filters() {
    let err = ListQuery::parse("filter=userName+eq", &limits()).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
    let tight = Limits {
        max_filter_len: 10,
        ..limits()
    };
    let err = ListQuery::parse("filter=userName+eq+%22abcdef%22", &tight).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
    assert!(q("filter=").filter.is_none());
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a+b%20c%22%e6%97%a5"), "a b c\"日");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz%4"), "%zz%4");
}

#[test]
fn projection_with_attributes() {
    let u = user("u1", "alice");
    let schema = ResourceSchema::user();
    let out = project(&u, &[AttributePath::new("USERNAME")], &[], schema);
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "schemas", "userName"]);

    let out = q("attributes=name.givenName,emails.value").project(&u, schema);
    assert_eq!(out["name"], json!({"givenName": "G"}));
    assert_eq!(out["emails"], json!([{"value": "u1@x"}, {"value": "h@x"}]));
    assert!(out.get("meta").is_none());

    let out = q(&format!("attributes={ENT}:department")).project(&u, schema);
    assert_eq!(out[ENT], json!({"department": "D"}));
    let out = q(&format!("attributes={ENT}")).project(&u, schema);
    assert_eq!(out[ENT], json!({"department": "D", "employeeNumber": "7"}));
    let out = q("attributes=name.givenName,name.familyName").project(&u, schema);
    assert_eq!(out["name"], json!({"givenName": "G", "familyName": "F"}));
    let out = q("attributes=nickName").project(&u, schema);
    assert!(out.get("nickName").is_none());
}

#[test]
fn projection_with_excluded_attributes() {
    let g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1",
                   "displayName": "Sales", "members": [{"value": "u1"}], "meta": {}});
    let out = q("excludedAttributes=members").project(&g, ResourceSchema::group());
    assert!(out.get("members").is_none());
    assert_eq!(out["displayName"], "Sales");
    let out = q("excludedAttributes=id,schemas").project(&g, ResourceSchema::group());
    assert_eq!(out["id"], "g1", "id is returned always");

    let u = user("u1", "alice");
    let schema = ResourceSchema::user();
    let out = q("excludedAttributes=name.familyName,emails.type").project(&u, schema);
    assert_eq!(out["name"], json!({"givenName": "G"}));
    assert_eq!(out["emails"][0], json!({"value": "u1@x", "primary": true}));
    let out = q(&format!(
        "excludedAttributes={ENT}:department,{ENT}:employeeNumber"
    ))
    .project(&u, schema);
    assert!(out.get(ENT).is_none(), "an emptied extension is dropped");
    let out = q(&format!("excludedAttributes={ENT}")).project(&u, schema);
    assert!(out.get(ENT).is_none());
}

#[test]
fn list_response_shape() {
    let empty = list_response(vec![], 0, 1, 0);
    assert_eq!(
        empty,
        json!({"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );
}

#[test]
fn respond_filters_sorts_pages_and_projects() {
    let users = vec![
        user("u1", "carol"),
        user("u2", "Alice"),
        user("u3", "bob"),
        json!({"id": "u4"}),
    ];
    let schema = ResourceSchema::user();
    let out = q("sortBy=userName&startIndex=2&count=2&attributes=userName")
        .respond(users.clone(), schema);
    assert_eq!(out["totalResults"], 4);
    assert_eq!(out["startIndex"], 2);
    assert_eq!(out["itemsPerPage"], 2);
    let names: Vec<&str> = out["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob", "carol"], "case-insensitive order");

    let out = q("sortBy=userName&sortOrder=descending").respond(users.clone(), schema);
    let ids: Vec<&str> = out["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["u1", "u3", "u2", "u4"], "missing values stay last");

    let out = q("filter=userName+sw+%22b%22").respond(users.clone(), schema);
    assert_eq!(out["totalResults"], 1);
    assert_eq!(out["Resources"][0]["id"], "u3");

    let out = q("sortBy=emails").respond(users, schema);
    let ids: Vec<&str> = out["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["u1", "u2", "u3", "u4"], "sorted by the primary email");
}

fn search(body: Value) -> Result<ListQuery, ScimError> {
    ListQuery::from_search_request(&body, &limits())
}

#[test]
fn a_search_request_body_carries_the_get_parameters() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "attributes": ["userName", "name.givenName"],
        "excludedAttributes": ["emails"],
        "filter": "userName sw \"a\"",
        "startIndex": 3,
        "count": 2,
        "sortBy": "userName",
        "sortOrder": "descending"
    });
    let query = search(body).unwrap();
    assert_eq!(
        query,
        q(
            "attributes=userName,name.givenName&excludedAttributes=emails&filter=userName+sw+%22a%22&startIndex=3&count=2&sortBy=userName&sortOrder=descending"
        )
    );
    let users: Vec<Value> = ["a1", "a2", "a3", "a4", "b1"]
        .iter()
        .map(|name| user(name, name))
        .collect();
    let page = query.respond(users, ResourceSchema::user());
    assert_eq!(page["totalResults"], 4);
    assert_eq!(page["startIndex"], 3);
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a2", "a1"]);
    let first = &page["Resources"][0];
    assert_eq!(first["name"], json!({"givenName": "G"}));
    assert!(first.get("emails").is_none(), "{first}");
}

#[test]
fn a_search_request_is_forgiving_about_spelling_and_types() {
    // No `schemas`, keys in another case, a comma-separated string, numbers as text.
    let query = search(json!({
        "Attributes": "userName,emails",
        "COUNT": "5",
        "startindex": "0",
        "filter": null
    }))
    .unwrap();
    assert_eq!((query.start_index, query.count), (1, 5));
    assert_eq!(query.attributes.len(), 2);
    assert!(query.filter.is_none());
    // An empty body lists everything, capped like a GET without parameters.
    assert_eq!(search(json!({})).unwrap(), q(""));
    // count above the limit is capped.
    assert_eq!(search(json!({"count": 100000})).unwrap().count, 100);
}

#[test]
fn a_malformed_search_request_is_refused_with_its_reason() {
    let kind = |body: Value| search(body).unwrap_err().scim_type;
    assert_eq!(kind(json!([])), Some(ScimType::InvalidSyntax));
    assert_eq!(
        kind(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"})),
        Some(ScimType::InvalidSyntax)
    );
    assert_eq!(
        kind(json!({"filter": "userName zz \"x\""})),
        Some(ScimType::InvalidFilter)
    );
    assert_eq!(
        kind(json!({"attributes": [1, 2]})),
        Some(ScimType::InvalidValue)
    );
    assert_eq!(kind(json!({"count": true})), Some(ScimType::InvalidValue));
    assert_eq!(
        kind(json!({"sortOrder": "sideways"})),
        Some(ScimType::InvalidValue)
    );
}
