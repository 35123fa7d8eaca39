//! SCIM Users and Groups of one login method over the store: create, read, list, replace,
//! patch, delete, with the ETag rules and the consequences `scim_sync` draws. HTTP is the
//! adapter's (`scim_api`); each operation here takes parsed inputs and returns a [`Reply`] or a
//! [`ScimError`] that already carries its status.

use std::time::UNIX_EPOCH;

use portcullis_scim::{
    Group, GroupChange, GroupData, IndexedAttribute, Limits, ListQuery, Member, MembersChange,
    Meta, PatchRequest, ResourceSchema, ScimError, Timestamp, User, UserData, apply_user_patch,
    etag_matches, list_response, plan_group_patch,
};
use portcullis_store::{
    ScimGroupPatch, ScimGroupPatched, ScimGroupRecord, ScimLookup, ScimMemberRecord,
    ScimMembersStep, ScimUserRecord, StoreError, UniqueKey,
};
use serde_json::Value;
use uuid::Uuid;

use crate::gateway::{Gateway, LoginMethod};
use crate::scim_sync;

/// How often a write that lost a race with another write of the same user is retried before
/// the client is told to try again.
const WRITE_ATTEMPTS: usize = 3;

/// The login method a SCIM request is for, with what the operations need.
pub struct Scope<'a> {
    pub gw: &'a Gateway,
    pub method: &'a LoginMethod,
    /// `<team URL>/scim/<idp id>/v2`, for `meta.location` and `Location`.
    pub base: String,
    pub limits: Limits,
}

impl Scope<'_> {
    fn idp(&self) -> Uuid {
        self.method.id.0
    }

    fn now_ms(&self) -> i64 {
        self.gw
            .clock
            .system_time()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A successful answer, before HTTP.
#[derive(Debug)]
pub struct Reply {
    /// 200, 201 or 204.
    pub status: u16,
    pub body: Option<Value>,
    /// The `ETag` of a single resource.
    pub etag: Option<String>,
    /// The `Location` of a created resource.
    pub location: Option<String>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply {
            status: 200,
            body: Some(body),
            etag: None,
            location: None,
        }
    }

    fn resource(status: u16, body: Value, version: i64) -> Self {
        let location = body
            .pointer("/meta/location")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Reply {
            status,
            etag: Some(portcullis_scim::etag(version as u64)),
            location: (status == 201).then_some(location).flatten(),
            body: Some(body),
        }
    }

    fn no_content() -> Self {
        Reply {
            status: 204,
            body: None,
            etag: None,
            location: None,
        }
    }
}

/// What the provisioning log records about the resource a request touched.
#[derive(Debug, Default)]
pub struct LogFacts {
    pub user_email: Option<String>,
    pub group_name: Option<String>,
    pub resource_id: Option<String>,
    pub external_id: Option<String>,
}

fn internal(error: StoreError) -> ScimError {
    tracing::error!(%error, "SCIM: store failure");
    ScimError::new(500, None, "internal error; the request was not applied")
}

fn store_error(error: StoreError) -> ScimError {
    match error {
        StoreError::Conflict(UniqueKey::ScimUserName) => {
            ScimError::uniqueness("a user with this userName already exists")
        }
        StoreError::Conflict(UniqueKey::ScimGroupName) => {
            ScimError::uniqueness("a group with this displayName already exists")
        }
        other => internal(other),
    }
}

fn meta(created_ms: i64, modified_ms: i64, version: i64) -> Meta {
    Meta {
        created: Timestamp::from_unix_millis(created_ms),
        last_modified: Timestamp::from_unix_millis(modified_ms),
        version: version as u64,
    }
}

fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    match if_match {
        Some(tag) if !etag_matches(tag, version as u64) => Err(ScimError::precondition_failed()),
        _ => Ok(()),
    }
}

fn lookup(attribute: IndexedAttribute, value: &str) -> ScimLookup {
    let value = value.to_owned();
    match attribute {
        IndexedAttribute::Id => ScimLookup::Id(value),
        IndexedAttribute::ExternalId => ScimLookup::ExternalId(value),
        IndexedAttribute::UserName => ScimLookup::UserName(value),
        IndexedAttribute::DisplayName => ScimLookup::DisplayName(value),
        IndexedAttribute::Email { .. } => ScimLookup::Email(value),
    }
}

// ---- users ------------------------------------------------------------------------------------

fn user_of(record: &ScimUserRecord) -> Result<User, ScimError> {
    let data = UserData::from_stored(&record.attributes).map_err(|e| {
        tracing::error!(scim_user = %record.id, error = %e, "SCIM: stored user does not parse");
        ScimError::new(500, None, "internal error: a stored user is damaged")
    })?;
    Ok(User {
        id: record.id.clone(),
        meta: meta(record.created_ms, record.modified_ms, record.version),
        data,
    })
}

fn user_json(scope: &Scope<'_>, record: &ScimUserRecord) -> Result<Value, ScimError> {
    Ok(user_of(record)?.to_json(&scope.base))
}

fn user_facts(facts: &mut LogFacts, data: &UserData) {
    facts.user_email = data
        .primary_email()
        .or_else(|| Some(data.user_name().to_owned()));
    facts.external_id = data.external_id().map(str::to_owned);
}

/// Creates or finds the registry user the SCIM user stands for, so that it exists (with its
/// groups ready for policies) before the first login.
async fn link(scope: &Scope<'_>, data: &UserData) -> Result<Option<Uuid>, ScimError> {
    let Some(email) = scim_sync::registry_email(data.primary_email(), data.user_name()) else {
        return Ok(None);
    };
    let name = data.display_name().map(str::to_owned).or_else(|| {
        let parts: Vec<&str> = [data.given_name(), data.family_name()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let user = scope
        .gw
        .store
        .provision_user(email.as_str(), name.as_deref(), scope.gw.clock.now())
        .await
        .map_err(internal)?;
    Ok(Some(user.id))
}

/// The record to store. `was_active` is the sign-in status before this write (true for a new
/// user): a write that leaves `active` unassigned (a PATCH removed it) keeps that status, so
/// removing the attribute can neither reactivate a deprovisioned user nor deactivate one.
fn user_record(
    scope: &Scope<'_>,
    id: String,
    data: &UserData,
    was_active: bool,
    registry_user_id: Option<Uuid>,
    created_ms: i64,
    version: i64,
) -> ScimUserRecord {
    ScimUserRecord {
        id,
        idp_id: scope.idp(),
        user_name: data.user_name().to_owned(),
        external_id: data.external_id().map(str::to_owned),
        display_name: data.display_name().map(str::to_owned),
        emails: data.emails().into_iter().map(|e| e.value).collect(),
        active: data.active().unwrap_or(was_active),
        attributes: Value::Object(data.attributes().clone()),
        registry_user_id,
        created_ms,
        modified_ms: scope.now_ms(),
        version,
    }
}

async fn load_user(scope: &Scope<'_>, id: &str) -> Result<ScimUserRecord, ScimError> {
    scope
        .gw
        .store
        .get_scim_user(scope.idp(), id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ScimError::not_found("User", id))
}

/// `POST /Users`.
pub async fn create_user(
    scope: &Scope<'_>,
    body: &Value,
    facts: &mut LogFacts,
) -> Result<Reply, ScimError> {
    let parsed = UserData::from_json(body)?;
    let data = parsed.data;
    user_facts(facts, &data);
    let registry_user_id = link(scope, &data).await?;
    let id = Uuid::new_v4().to_string();
    facts.resource_id = Some(id.clone());
    let now = scope.now_ms();
    let record = user_record(scope, id, &data, true, registry_user_id, now, 1);
    scope
        .gw
        .store
        .insert_scim_user(&record)
        .await
        .map_err(store_error)?;
    Ok(Reply::resource(201, user_json(scope, &record)?, 1))
}

/// `GET /Users/<id>`.
pub async fn get_user(scope: &Scope<'_>, id: &str, query: &str) -> Result<Reply, ScimError> {
    let q = ListQuery::parse(query, &scope.limits)?;
    let record = load_user(scope, id).await?;
    let body = q.project(&user_json(scope, &record)?, ResourceSchema::user());
    Ok(Reply::resource(200, body, record.version))
}

/// `GET /Users` and `POST /Users/.search`: indexed filters read only their candidates; a
/// plain page reads only itself.
pub async fn list_users(scope: &Scope<'_>, q: &ListQuery) -> Result<Reply, ScimError> {
    let schema = ResourceSchema::user();
    let store = scope.gw.store.as_ref();
    let idp = scope.idp();
    let hint = q.filter.as_ref().and_then(|f| f.index_hint());
    let records = match (hint, &q.filter, &q.sort_by) {
        (Some((attribute, value)), _, _) => store
            .find_scim_users(idp, &lookup(attribute, value))
            .await
            .map_err(internal)?,
        (None, None, None) => {
            let total = store.count_scim_users(idp).await.map_err(internal)?;
            let page = store
                .list_scim_users(idp, q.offset() as u64, q.count as u64)
                .await
                .map_err(internal)?;
            let mut resources = Vec::with_capacity(page.len());
            for record in &page {
                resources.push(q.project(&user_json(scope, record)?, schema));
            }
            let items = resources.len();
            return Ok(Reply::ok(list_response(
                resources,
                total as usize,
                q.start_index,
                items,
            )));
        }
        _ => store
            .list_scim_users(idp, 0, u64::MAX)
            .await
            .map_err(internal)?,
    };
    let mut all = Vec::with_capacity(records.len());
    for record in &records {
        all.push(user_json(scope, record)?);
    }
    Ok(Reply::ok(q.respond(all, schema)))
}

/// Stores a changed user, retrying on a lost race (unless the client pinned a version with
/// `If-Match`), and draws the consequences of a deactivation.
async fn write_user<F>(
    scope: &Scope<'_>,
    id: &str,
    if_match: Option<&str>,
    facts: &mut LogFacts,
    change: F,
) -> Result<ScimUserRecord, ScimError>
where
    F: Fn(&ScimUserRecord) -> Result<UserData, ScimError>,
{
    for _ in 0..WRITE_ATTEMPTS {
        let before = load_user(scope, id).await?;
        facts.resource_id = Some(before.id.clone());
        check_if_match(if_match, before.version)?;
        let data = change(&before)?;
        user_facts(facts, &data);
        let registry_user_id = match link(scope, &data).await? {
            Some(id) => Some(id),
            None => before.registry_user_id,
        };
        let after = user_record(
            scope,
            before.id.clone(),
            &data,
            before.active,
            registry_user_id,
            before.created_ms,
            before.version + 1,
        );
        let written = scope
            .gw
            .store
            .update_scim_user(&after)
            .await
            .map_err(store_error)?;
        if written {
            if before.active && !after.active {
                scim_sync::user_deprovisioned(scope.gw, scope.method, &after).await;
            }
            return Ok(after);
        }
        if if_match.is_some() {
            return Err(ScimError::precondition_failed());
        }
    }
    Err(ScimError::new(
        409,
        None,
        "the user was changed by another request at the same time; retry",
    ))
}

/// `PUT /Users/<id>`: replaces the user; never creates one.
pub async fn replace_user(
    scope: &Scope<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    facts: &mut LogFacts,
) -> Result<Reply, ScimError> {
    let data = UserData::from_json(body)?.data;
    user_facts(facts, &data);
    let after = write_user(scope, id, if_match, facts, |_| Ok(data.clone())).await?;
    Ok(Reply::resource(
        200,
        user_json(scope, &after)?,
        after.version,
    ))
}

/// `PATCH /Users/<id>`: answers 200 with the user.
pub async fn patch_user(
    scope: &Scope<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    query: &str,
    facts: &mut LogFacts,
) -> Result<Reply, ScimError> {
    let request = PatchRequest::parse(body)?;
    let q = ListQuery::parse(query, &scope.limits)?;
    let after = write_user(scope, id, if_match, facts, |before| {
        Ok(apply_user_patch(&user_of(before)?, &request)?.data)
    })
    .await?;
    let body = q.project(&user_json(scope, &after)?, ResourceSchema::user());
    Ok(Reply::resource(200, body, after.version))
}

/// `DELETE /Users/<id>`: the user is removed from its groups and deprovisioned.
pub async fn delete_user(
    scope: &Scope<'_>,
    id: &str,
    if_match: Option<&str>,
    facts: &mut LogFacts,
) -> Result<Reply, ScimError> {
    let before = load_user(scope, id).await?;
    facts.resource_id = Some(before.id.clone());
    facts.external_id.clone_from(&before.external_id);
    facts.user_email = before
        .emails
        .first()
        .cloned()
        .or_else(|| Some(before.user_name.clone()));
    check_if_match(if_match, before.version)?;
    let deleted = scope
        .gw
        .store
        .delete_scim_user(scope.idp(), id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ScimError::not_found("User", id))?;
    scim_sync::user_deprovisioned(scope.gw, scope.method, &deleted).await;
    Ok(Reply::no_content())
}

// ---- groups -----------------------------------------------------------------------------------

fn member_record(m: &Member) -> ScimMemberRecord {
    ScimMemberRecord {
        value: m.value.clone(),
        display: m.display.clone(),
        kind: m.kind.clone(),
    }
}

fn member_of(m: ScimMemberRecord) -> Member {
    Member {
        value: m.value,
        display: m.display,
        kind: m.kind,
    }
}

fn group_json(scope: &Scope<'_>, record: &ScimGroupRecord, members: Vec<Member>) -> Value {
    Group {
        id: record.id.clone(),
        meta: meta(record.created_ms, record.modified_ms, record.version),
        data: GroupData {
            display_name: record.display_name.clone(),
            external_id: record.external_id.clone(),
            members,
        },
    }
    .to_json(&scope.base)
}

async fn members_of(scope: &Scope<'_>, group_id: &str) -> Result<Vec<Member>, ScimError> {
    Ok(scope
        .gw
        .store
        .list_scim_group_members(group_id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(member_of)
        .collect())
}

async fn load_group(scope: &Scope<'_>, id: &str) -> Result<ScimGroupRecord, ScimError> {
    scope
        .gw
        .store
        .get_scim_group(scope.idp(), id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ScimError::not_found("Group", id))
}

fn group_facts(facts: &mut LogFacts, record: &ScimGroupRecord) {
    facts.group_name = Some(record.display_name.clone());
    facts.resource_id = Some(record.id.clone());
    facts.external_id.clone_from(&record.external_id);
}

/// `POST /Groups`.
pub async fn create_group(
    scope: &Scope<'_>,
    body: &Value,
    facts: &mut LogFacts,
) -> Result<Reply, ScimError> {
    let data = GroupData::from_json(body)?;
    let now = scope.now_ms();
    let record = ScimGroupRecord {
        id: Uuid::new_v4().to_string(),
        idp_id: scope.idp(),
        display_name: data.display_name.clone(),
        external_id: data.external_id.clone(),
        created_ms: now,
        modified_ms: now,
        version: 1,
    };
    group_facts(facts, &record);
    let members: Vec<ScimMemberRecord> = data.members.iter().map(member_record).collect();
    scope
        .gw
        .store
        .insert_scim_group(&record, &members)
        .await
        .map_err(store_error)?;
    let ids: Vec<String> = members.iter().map(|m| m.value.clone()).collect();
    scim_sync::memberships_changed(scope.gw, scope.method, &ids).await;
    Ok(Reply::resource(
        201,
        group_json(scope, &record, data.members),
        1,
    ))
}

/// `GET /Groups/<id>`: members are read only when they will be returned.
pub async fn get_group(scope: &Scope<'_>, id: &str, query: &str) -> Result<Reply, ScimError> {
    let q = ListQuery::parse(query, &scope.limits)?;
    let schema = ResourceSchema::group();
    let record = load_group(scope, id).await?;
    let members = if q.returns("members", schema) {
        members_of(scope, &record.id).await?
    } else {
        Vec::new()
    };
    let body = q.project(&group_json(scope, &record, members), schema);
    Ok(Reply::resource(200, body, record.version))
}

/// `GET /Groups` and `POST /Groups/.search`: like [`list_users`];
/// `excludedAttributes=members` never reads a member.
pub async fn list_groups(scope: &Scope<'_>, q: &ListQuery) -> Result<Reply, ScimError> {
    let schema = ResourceSchema::group();
    let store = scope.gw.store.as_ref();
    let idp = scope.idp();
    let with_members = q.returns("members", schema);
    let hint = q.filter.as_ref().and_then(|f| f.index_hint());
    let records = match (hint, &q.filter, &q.sort_by) {
        (Some((attribute, value)), _, _) => store
            .find_scim_groups(idp, &lookup(attribute, value))
            .await
            .map_err(internal)?,
        (None, None, None) => {
            let total = store.count_scim_groups(idp).await.map_err(internal)?;
            let page = store
                .list_scim_groups(idp, q.offset() as u64, q.count as u64)
                .await
                .map_err(internal)?;
            let mut resources = Vec::with_capacity(page.len());
            for record in &page {
                let members = if with_members {
                    members_of(scope, &record.id).await?
                } else {
                    Vec::new()
                };
                resources.push(q.project(&group_json(scope, record, members), schema));
            }
            let items = resources.len();
            return Ok(Reply::ok(list_response(
                resources,
                total as usize,
                q.start_index,
                items,
            )));
        }
        _ => store
            .list_scim_groups(idp, 0, u64::MAX)
            .await
            .map_err(internal)?,
    };
    // A filter on members needs them even when they are not returned.
    let filter_reads_members = q
        .filter
        .as_ref()
        .is_some_and(|f| f.to_string().to_ascii_lowercase().contains("members"));
    let mut all = Vec::with_capacity(records.len());
    for record in &records {
        let members = if with_members || filter_reads_members {
            members_of(scope, &record.id).await?
        } else {
            Vec::new()
        };
        all.push(group_json(scope, record, members));
    }
    Ok(Reply::ok(q.respond(all, schema)))
}

fn members_step(change: &MembersChange) -> ScimMembersStep {
    match change {
        MembersChange::Add(members) => {
            ScimMembersStep::Add(members.iter().map(member_record).collect())
        }
        MembersChange::Remove(ids) => ScimMembersStep::Remove(ids.clone()),
        MembersChange::RemoveAll => ScimMembersStep::RemoveAll,
        MembersChange::ReplaceAll(members) => {
            ScimMembersStep::ReplaceAll(members.iter().map(member_record).collect())
        }
    }
}

/// Runs a group change in one store transaction and draws its consequences.
async fn apply_group_change(
    scope: &Scope<'_>,
    id: &str,
    change: &GroupChange,
    expected_version: Option<i64>,
) -> Result<ScimGroupRecord, ScimError> {
    let patch = ScimGroupPatch {
        display_name: change.display_name.clone(),
        external_id: change.external_id.clone(),
        members: change.members.iter().map(members_step).collect(),
        expected_version,
        at_ms: scope.now_ms(),
    };
    match scope
        .gw
        .store
        .patch_scim_group(scope.idp(), id, &patch)
        .await
        .map_err(store_error)?
    {
        ScimGroupPatched::NotFound => Err(ScimError::not_found("Group", id)),
        ScimGroupPatched::VersionMismatch => Err(ScimError::precondition_failed()),
        ScimGroupPatched::Done {
            group,
            changed_members,
        } => {
            scim_sync::memberships_changed(scope.gw, scope.method, &changed_members).await;
            Ok(group)
        }
    }
}

/// The version a change must find, when the client sent `If-Match`.
async fn expected_version(
    scope: &Scope<'_>,
    id: &str,
    if_match: Option<&str>,
    facts: &mut LogFacts,
) -> Result<Option<i64>, ScimError> {
    let current = load_group(scope, id).await?;
    group_facts(facts, &current);
    check_if_match(if_match, current.version)?;
    Ok(if_match.map(|_| current.version))
}

/// `PUT /Groups/<id>`: the group becomes exactly the body (Okta pushes full member lists).
pub async fn replace_group(
    scope: &Scope<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    facts: &mut LogFacts,
) -> Result<Reply, ScimError> {
    let data = GroupData::from_json(body)?;
    let expected = expected_version(scope, id, if_match, facts).await?;
    let change = GroupChange {
        display_name: Some(data.display_name.clone()),
        external_id: Some(data.external_id.clone()),
        members: vec![MembersChange::ReplaceAll(data.members.clone())],
    };
    let group = apply_group_change(scope, id, &change, expected).await?;
    group_facts(facts, &group);
    Ok(Reply::resource(
        200,
        group_json(scope, &group, data.members),
        group.version,
    ))
}

/// `PATCH /Groups/<id>`: membership steps touch only the members they name. The answer is 200
/// with the group, projected by `attributes`/`excludedAttributes` when given; a group with more
/// members than one request may change gets 204 instead of a response as large as the group
/// (RFC 7644 §3.5.2 allows either).
pub async fn patch_group(
    scope: &Scope<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    query: &str,
    facts: &mut LogFacts,
) -> Result<Reply, ScimError> {
    let request = PatchRequest::parse(body)?;
    let change = plan_group_patch(id, &request, &scope.limits)?;
    let q = ListQuery::parse(query, &scope.limits)?;
    let expected = expected_version(scope, id, if_match, facts).await?;
    let group = if change.is_empty() {
        load_group(scope, id).await?
    } else {
        apply_group_change(scope, id, &change, expected).await?
    };
    group_facts(facts, &group);
    let schema = ResourceSchema::group();
    let projected = !q.attributes.is_empty() || !q.excluded_attributes.is_empty();
    let members = if q.returns("members", schema) {
        let cap = scope.limits.max_members_per_request as u64;
        let count = scope
            .gw
            .store
            .count_scim_group_members(&group.id, cap + 1)
            .await
            .map_err(internal)?;
        if count > cap && !projected {
            let mut reply = Reply::no_content();
            reply.etag = Some(portcullis_scim::etag(group.version as u64));
            return Ok(reply);
        }
        members_of(scope, &group.id).await?
    } else {
        Vec::new()
    };
    let body = q.project(&group_json(scope, &group, members), schema);
    Ok(Reply::resource(200, body, group.version))
}

/// `DELETE /Groups/<id>`.
pub async fn delete_group(
    scope: &Scope<'_>,
    id: &str,
    if_match: Option<&str>,
    facts: &mut LogFacts,
) -> Result<Reply, ScimError> {
    expected_version(scope, id, if_match, facts).await?;
    let members = scope
        .gw
        .store
        .delete_scim_group(scope.idp(), id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ScimError::not_found("Group", id))?;
    scim_sync::memberships_changed(scope.gw, scope.method, &members).await;
    Ok(Reply::no_content())
}
