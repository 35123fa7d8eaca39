//! Attribute definitions of the resources Portcullis serves (RFC 7643 §4, §8.7) and the three
//! discovery documents built from them: `/Schemas`, `/ResourceTypes` and
//! `/ServiceProviderConfig`.
//!
//! The definitions are the single source for everything that depends on an attribute's
//! characteristics: case sensitivity in filters, what PATCH may change, what a projection always
//! returns. The discovery documents are rendered from the same tables, so they describe exactly
//! what the parsers accept.

use serde_json::{Map, Value, json};

use crate::Limits;
use crate::filter::AttributePath;

/// Core User schema URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Enterprise User extension URN.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Core Group schema URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// ListResponse message URN.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// PatchOp message URN.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// SearchRequest message URN (the body of `POST /.search`).
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// Schema URN of the `/Schemas` documents themselves.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// Schema URN of `/ResourceTypes` documents.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// Schema URN of `/ServiceProviderConfig`.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    /// A Unicode string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An RFC 3339 instant.
    DateTime,
    /// A URI reference to another resource.
    Reference,
    /// A set of sub-attributes.
    Complex,
    /// Base64 data.
    Binary,
}

impl AttributeType {
    fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Boolean => "boolean",
            AttributeType::Decimal => "decimal",
            AttributeType::Integer => "integer",
            AttributeType::DateTime => "dateTime",
            AttributeType::Reference => "reference",
            AttributeType::Complex => "complex",
            AttributeType::Binary => "binary",
        }
    }
}

/// Whether and when a client may write an attribute (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Only the server sets it; client values are ignored on create/replace and refused in PATCH.
    ReadOnly,
    /// Freely writable.
    ReadWrite,
    /// Settable once.
    Immutable,
    /// Writable but never returned (passwords).
    WriteOnly,
}

/// When an attribute appears in responses (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// In every response, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never.
    Never,
    /// Unless excluded.
    Default,
    /// Only when asked for.
    Request,
}

/// Uniqueness scope (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// No constraint.
    None,
    /// Unique within this service provider (per IdP endpoint in Portcullis).
    Server,
    /// Globally unique.
    Global,
}

/// One attribute definition, as published in `/Schemas`.
#[derive(Debug, Clone)]
pub struct AttributeDef {
    /// Canonical attribute name (the spelling this server emits).
    pub name: &'static str,
    /// Data type.
    pub kind: AttributeType,
    /// Whether values are arrays.
    pub multi_valued: bool,
    /// Human-readable description.
    pub description: &'static str,
    /// Whether a resource must carry it.
    pub required: bool,
    /// Whether string comparisons respect case.
    pub case_exact: bool,
    /// Write rules.
    pub mutability: Mutability,
    /// Return rules.
    pub returned: Returned,
    /// Uniqueness scope.
    pub uniqueness: Uniqueness,
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: &'static [AttributeDef],
    /// Suggested values (for `type` sub-attributes).
    pub canonical_values: &'static [&'static str],
    /// Resource types a reference may point at.
    pub reference_types: &'static [&'static str],
}

impl AttributeDef {
    const fn new(name: &'static str, kind: AttributeType, description: &'static str) -> Self {
        AttributeDef {
            name,
            kind,
            multi_valued: false,
            description,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            sub_attributes: &[],
            canonical_values: &[],
            reference_types: &[],
        }
    }
    const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::String, description)
    }
    const fn boolean(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::Boolean, description)
    }
    const fn reference(
        name: &'static str,
        types: &'static [&'static str],
        description: &'static str,
    ) -> Self {
        let mut def = Self::new(name, AttributeType::Reference, description);
        def.reference_types = types;
        def
    }
    const fn complex(
        name: &'static str,
        subs: &'static [AttributeDef],
        description: &'static str,
    ) -> Self {
        let mut def = Self::new(name, AttributeType::Complex, description);
        def.sub_attributes = subs;
        def
    }
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    const fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    const fn write_only(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self.returned = Returned::Never;
        self
    }
    const fn always(mut self) -> Self {
        self.returned = Returned::Always;
        self
    }
    const fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    /// The sub-attribute called `name` (case-insensitive), if this is a complex attribute.
    pub fn sub_attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), self.name.into());
        out.insert("type".into(), self.kind.as_str().into());
        out.insert("multiValued".into(), self.multi_valued.into());
        out.insert("description".into(), self.description.into());
        out.insert("required".into(), self.required.into());
        out.insert("caseExact".into(), self.case_exact.into());
        let mutability = match self.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        };
        out.insert("mutability".into(), mutability.into());
        let returned = match self.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        };
        out.insert("returned".into(), returned.into());
        let uniqueness = match self.uniqueness {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        };
        out.insert("uniqueness".into(), uniqueness.into());
        if !self.sub_attributes.is_empty() {
            let subs = self
                .sub_attributes
                .iter()
                .map(AttributeDef::to_json)
                .collect();
            out.insert("subAttributes".into(), Value::Array(subs));
        }
        if !self.canonical_values.is_empty() {
            out.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if self.kind == AttributeType::Reference {
            out.insert("referenceTypes".into(), json!(self.reference_types));
        }
        Value::Object(out)
    }
}

/// A schema: a URN and its attributes.
#[derive(Debug)]
pub struct SchemaDef {
    /// The schema URN.
    pub id: &'static str,
    /// Short name.
    pub name: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// Attribute definitions (without the common `id`, `externalId`, `meta`).
    pub attributes: &'static [AttributeDef],
}

impl SchemaDef {
    /// The attribute called `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The `/Schemas/<id>` document.
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttributeDef::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{}/Schemas/{}", base_url.trim_end_matches('/'), self.id),
            },
        })
    }
}

/// A resource type: its endpoint, core schema and extensions.
#[derive(Debug)]
pub struct ResourceSchema {
    /// Resource type name (`User`, `Group`), also `meta.resourceType`.
    pub name: &'static str,
    /// Endpoint relative to the SCIM base URL.
    pub endpoint: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// The core schema.
    pub core: &'static SchemaDef,
    /// Extension schemas; their attributes live in an object keyed by the extension URN.
    pub extensions: &'static [&'static SchemaDef],
}

/// Where a path's attribute lives in a resource, and its definition when known.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttribute {
    /// `Some(urn)` if the attribute lives inside the extension object keyed by `urn`.
    pub extension: Option<&'static str>,
    /// The definition; `None` for an attribute of a known extension that this server does
    /// not define (kept verbatim under the client's spelling).
    pub def: Option<&'static AttributeDef>,
}

const EMAIL_TYPES: &[&str] = &["work", "home", "other"];

const ID: AttributeDef = AttributeDef::string("id", "Server-assigned identifier of the resource.")
    .case_exact()
    .read_only()
    .always()
    .unique();
const EXTERNAL_ID: AttributeDef = AttributeDef::string(
    "externalId",
    "Identifier of the resource in the provisioning client.",
)
.case_exact();
const META_SUBS: &[AttributeDef] = &[
    AttributeDef::string("resourceType", "Name of the resource type.")
        .case_exact()
        .read_only(),
    AttributeDef::new(
        "created",
        AttributeType::DateTime,
        "When the resource was created.",
    )
    .read_only(),
    AttributeDef::new(
        "lastModified",
        AttributeType::DateTime,
        "When the resource last changed.",
    )
    .read_only(),
    AttributeDef::reference("location", &["uri"], "URI of the resource.")
        .case_exact()
        .read_only(),
    AttributeDef::string("version", "Weak entity tag of the resource.")
        .case_exact()
        .read_only(),
];
const META: AttributeDef = AttributeDef::complex(
    "meta",
    META_SUBS,
    "Resource metadata maintained by the server.",
)
.read_only();

/// Attributes every resource has (RFC 7643 §3.1); not listed in `/Schemas`.
pub const COMMON_ATTRIBUTES: &[AttributeDef] = &[ID, EXTERNAL_ID, META];

const NAME_SUBS: &[AttributeDef] = &[
    AttributeDef::string("formatted", "Full name, formatted for display."),
    AttributeDef::string("familyName", "Family name."),
    AttributeDef::string("givenName", "Given name."),
    AttributeDef::string("middleName", "Middle name."),
    AttributeDef::string("honorificPrefix", "Honorific prefix."),
    AttributeDef::string("honorificSuffix", "Honorific suffix."),
];

const fn multi_subs(
    value_description: &'static str,
    types: &'static [&'static str],
) -> [AttributeDef; 4] {
    [
        AttributeDef::string("value", value_description),
        AttributeDef::string("display", "Human-readable label."),
        AttributeDef::string("type", "Label of the value's function.").canonical(types),
        AttributeDef::boolean("primary", "Whether this is the preferred value."),
    ]
}

const EMAIL_SUBS: &[AttributeDef] = &multi_subs("Email address.", EMAIL_TYPES);
const PHONE_SUBS: &[AttributeDef] = &multi_subs(
    "Phone number.",
    &["work", "home", "mobile", "fax", "pager", "other"],
);
const IMS_SUBS: &[AttributeDef] = &multi_subs("Instant messaging address.", &[]);
const PHOTO_SUBS: &[AttributeDef] = &multi_subs("URL of a photo.", &["photo", "thumbnail"]);
const PLAIN_SUBS: &[AttributeDef] = &multi_subs("The value.", &[]);
const ADDRESS_SUBS: &[AttributeDef] = &[
    AttributeDef::string("formatted", "Full mailing address."),
    AttributeDef::string("streetAddress", "Street address."),
    AttributeDef::string("locality", "City or locality."),
    AttributeDef::string("region", "State or region."),
    AttributeDef::string("postalCode", "Postal code."),
    AttributeDef::string("country", "Country (ISO 3166-1 alpha-2)."),
    AttributeDef::string("type", "Label of the address's function.")
        .canonical(&["work", "home", "other"]),
    AttributeDef::boolean("primary", "Whether this is the preferred address."),
];
const USER_GROUP_SUBS: &[AttributeDef] = &[
    AttributeDef::string("value", "Identifier of the group.")
        .case_exact()
        .read_only(),
    AttributeDef::reference("$ref", &["Group"], "URI of the group.")
        .case_exact()
        .read_only(),
    AttributeDef::string("display", "Name of the group.").read_only(),
    AttributeDef::string("type", "direct or indirect membership.")
        .canonical(&["direct", "indirect"])
        .read_only(),
];

const USER_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef::string(
        "userName",
        "Unique identifier of the user, typically the email address; compared case-insensitively.",
    )
    .required()
    .unique(),
    AttributeDef::complex("name", NAME_SUBS, "Components of the user's name."),
    AttributeDef::string("displayName", "Name for display."),
    AttributeDef::string("nickName", "Casual name."),
    AttributeDef::reference("profileUrl", &["external"], "URL of the user's profile."),
    AttributeDef::string("title", "Job title."),
    AttributeDef::string("userType", "Relationship to the organisation."),
    AttributeDef::string(
        "preferredLanguage",
        "Preferred language (RFC 7231 Accept-Language form).",
    ),
    AttributeDef::string("locale", "Locale for localisation."),
    AttributeDef::string("timezone", "Time zone (IANA name)."),
    AttributeDef::boolean(
        "active",
        "Whether the user may sign in; false deprovisions.",
    ),
    AttributeDef::string(
        "password",
        "Accepted and discarded: Portcullis never stores passwords.",
    )
    .write_only(),
    AttributeDef::complex("emails", EMAIL_SUBS, "Email addresses.").multi(),
    AttributeDef::complex("phoneNumbers", PHONE_SUBS, "Phone numbers.").multi(),
    AttributeDef::complex("ims", IMS_SUBS, "Instant messaging addresses.").multi(),
    AttributeDef::complex("photos", PHOTO_SUBS, "Photo URLs.").multi(),
    AttributeDef::complex("addresses", ADDRESS_SUBS, "Physical addresses.").multi(),
    AttributeDef::complex(
        "groups",
        USER_GROUP_SUBS,
        "Groups the user belongs to; maintained through the Group resource.",
    )
    .multi()
    .read_only(),
    AttributeDef::complex("entitlements", PLAIN_SUBS, "Entitlements.").multi(),
    AttributeDef::complex("roles", PLAIN_SUBS, "Roles.").multi(),
    AttributeDef::complex("x509Certificates", PLAIN_SUBS, "Certificates (base64 DER).").multi(),
];

const MANAGER_SUBS: &[AttributeDef] = &[
    AttributeDef::string("value", "Identifier of the manager's User resource.").case_exact(),
    AttributeDef::reference("$ref", &["User"], "URI of the manager's User resource."),
    AttributeDef::string("displayName", "Manager's display name.").read_only(),
];

const ENTERPRISE_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef::string("employeeNumber", "Employee number."),
    AttributeDef::string("costCenter", "Cost centre."),
    AttributeDef::string("organization", "Organisation."),
    AttributeDef::string("division", "Division."),
    AttributeDef::string("department", "Department."),
    AttributeDef::complex("manager", MANAGER_SUBS, "The user's manager."),
];

const MEMBER_SUBS: &[AttributeDef] = &[
    AttributeDef::string("value", "Identifier of the member resource.")
        .case_exact()
        .immutable(),
    AttributeDef::reference("$ref", &["User", "Group"], "URI of the member resource.").immutable(),
    AttributeDef::string("display", "Name of the member, as the client sent it."),
    AttributeDef::string("type", "Kind of member.")
        .canonical(&["User", "Group"])
        .immutable(),
];

const GROUP_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef::string(
        "displayName",
        "Name of the group; unique per identity provider.",
    )
    .required()
    .unique(),
    AttributeDef::complex("members", MEMBER_SUBS, "Direct members of the group.").multi(),
];

/// The core User schema.
pub static USER: SchemaDef = SchemaDef {
    id: USER_SCHEMA,
    name: "User",
    description: "User account",
    attributes: USER_ATTRIBUTES,
};

/// The Enterprise User extension.
pub static ENTERPRISE_USER: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};

/// The core Group schema.
pub static GROUP: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

static USER_RESOURCE: ResourceSchema = ResourceSchema {
    name: "User",
    endpoint: "/Users",
    description: "User account",
    core: &USER,
    extensions: &[&ENTERPRISE_USER],
};

static GROUP_RESOURCE: ResourceSchema = ResourceSchema {
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    core: &GROUP,
    extensions: &[],
};

static ALL_SCHEMAS: [&SchemaDef; 3] = [&USER, &ENTERPRISE_USER, &GROUP];

impl ResourceSchema {
    /// The User resource type.
    pub fn user() -> &'static ResourceSchema {
        &USER_RESOURCE
    }

    /// The Group resource type.
    pub fn group() -> &'static ResourceSchema {
        &GROUP_RESOURCE
    }

    /// The extension with this URN (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions
            .iter()
            .copied()
            .find(|e| e.id.eq_ignore_ascii_case(urn))
    }

    /// A top-level attribute: `urn` `None` looks in the common attributes, the core schema and
    /// then the extensions (RFC 7644 §3.10 allows unqualified extension names); a core URN
    /// looks only in core; an extension URN only in that extension. Unknown names of a known
    /// extension resolve with `def: None`; anything else unknown is `None`.
    pub fn resolve_top(&self, urn: Option<&str>, name: &str) -> Option<ResolvedAttribute> {
        let in_core = || {
            COMMON_ATTRIBUTES
                .iter()
                .chain(self.core.attributes)
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|def| ResolvedAttribute {
                    extension: None,
                    def: Some(def),
                })
        };
        match urn {
            None => in_core().or_else(|| {
                self.extensions.iter().find_map(|ext| {
                    ext.attribute(name).map(|def| ResolvedAttribute {
                        extension: Some(ext.id),
                        def: Some(def),
                    })
                })
            }),
            Some(urn) if urn.eq_ignore_ascii_case(self.core.id) => in_core(),
            Some(urn) => {
                let ext = self.extension(urn)?;
                Some(ResolvedAttribute {
                    extension: Some(ext.id),
                    def: ext.attribute(name),
                })
            }
        }
    }

    /// The definition a path's comparison uses: the sub-attribute's if the path names one.
    pub fn definition(&self, path: &AttributePath) -> Option<&'static AttributeDef> {
        let top = self.resolve_top(path.urn.as_deref(), &path.name)?.def?;
        match &path.sub {
            Some(sub) => top.sub_attribute(sub),
            None => Some(top),
        }
    }

    /// The schema URNs a resource of this type lists: core plus the given extensions present.
    pub fn schema_urns(&self, extensions_present: &[&str]) -> Vec<Value> {
        let mut urns = vec![Value::from(self.core.id)];
        for ext in self.extensions {
            if extensions_present
                .iter()
                .any(|p| p.eq_ignore_ascii_case(ext.id))
            {
                urns.push(Value::from(ext.id));
            }
        }
        urns
    }

    /// The `/ResourceTypes/<name>` document.
    pub fn resource_type_json(&self, base_url: &str) -> Value {
        let base = base_url.trim_end_matches('/');
        let extensions: Vec<Value> = self
            .extensions
            .iter()
            .map(|e| json!({"schema": e.id, "required": false}))
            .collect();
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.core.id,
            "schemaExtensions": extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base}/ResourceTypes/{}", self.name),
            },
        })
    }
}

/// `GET /Schemas`: a ListResponse of every schema this server implements.
pub fn schemas_list(base_url: &str) -> Value {
    let all: Vec<Value> = ALL_SCHEMAS.iter().map(|s| s.to_json(base_url)).collect();
    crate::query::list_response(all.clone(), all.len(), 1, all.len())
}

/// `GET /Schemas/<id>`: the schema with this URN, or `None` (answer 404).
pub fn schema_document(id: &str, base_url: &str) -> Option<Value> {
    ALL_SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| s.to_json(base_url))
}

/// `GET /ResourceTypes`: a ListResponse of User and Group.
pub fn resource_types_list(base_url: &str) -> Value {
    let all: Vec<Value> = [ResourceSchema::user(), ResourceSchema::group()]
        .iter()
        .map(|r| r.resource_type_json(base_url))
        .collect();
    crate::query::list_response(all.clone(), all.len(), 1, all.len())
}

/// `GET /ResourceTypes/<name>`: `User` or `Group` (case-insensitive), or `None` (answer 404).
pub fn resource_type_document(name: &str, base_url: &str) -> Option<Value> {
    [ResourceSchema::user(), ResourceSchema::group()]
        .into_iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
        .map(|r| r.resource_type_json(base_url))
}

/// `GET /ServiceProviderConfig`: what this library implements, with the deployment's limits.
pub fn service_provider_config(base_url: &str, limits: &Limits) -> Value {
    let base = base_url.trim_end_matches('/');
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://github.com/portcullis-gateway/portcullis",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": limits.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The SCIM secret of the identity provider, sent as 'Authorization: Bearer <secret>'.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://team.example.com/scim/idp-1/v2";

    #[test]
    fn service_provider_config_tells_what_is_supported() {
        let limits = Limits {
            max_results: 50,
            ..Limits::default()
        };
        let doc = service_provider_config(BASE, &limits);
        assert_eq!(doc["schemas"][0], SERVICE_PROVIDER_CONFIG_SCHEMA);
        assert_eq!(doc["patch"]["supported"], true);
        assert_eq!(doc["bulk"]["supported"], false);
        assert_eq!(doc["filter"]["supported"], true);
        assert_eq!(doc["filter"]["maxResults"], 50);
        assert_eq!(doc["changePassword"]["supported"], false);
        assert_eq!(doc["sort"]["supported"], true);
        assert_eq!(doc["etag"]["supported"], true);
        assert_eq!(doc["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert!(
            doc["authenticationSchemes"][0]["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
        assert_eq!(
            doc["meta"]["location"],
            format!("{BASE}/ServiceProviderConfig")
        );
    }

    #[test]
    fn schemas_list_holds_user_enterprise_and_group() {
        let doc = schemas_list(BASE);
        assert_eq!(doc["schemas"][0], LIST_RESPONSE_SCHEMA);
        assert_eq!(doc["totalResults"], 3);
        let ids: Vec<&str> = doc["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA]);
    }

    #[test]
    fn user_schema_document_describes_attributes() {
        let doc = schema_document(USER_SCHEMA, BASE).unwrap();
        assert_eq!(doc["schemas"][0], SCHEMA_SCHEMA);
        assert_eq!(
            doc["meta"]["location"],
            format!("{BASE}/Schemas/{USER_SCHEMA}")
        );
        let attrs = doc["attributes"].as_array().unwrap();
        let user_name = attrs.iter().find(|a| a["name"] == "userName").unwrap();
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["uniqueness"], "server");
        let emails = attrs.iter().find(|a| a["name"] == "emails").unwrap();
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["subAttributes"].as_array().unwrap().len(), 4);
        let groups = attrs.iter().find(|a| a["name"] == "groups").unwrap();
        assert_eq!(groups["mutability"], "readOnly");
        let password = attrs.iter().find(|a| a["name"] == "password").unwrap();
        assert_eq!(password["returned"], "never");
        for attr in attrs {
            for key in [
                "name",
                "type",
                "multiValued",
                "required",
                "mutability",
                "returned",
                "uniqueness",
            ] {
                assert!(attr.get(key).is_some(), "{key} missing on {}", attr["name"]);
            }
        }
    }

    #[test]
    fn enterprise_and_group_documents() {
        let ent = schema_document(ENTERPRISE_USER_SCHEMA, BASE).unwrap();
        let manager = ent["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "manager")
            .unwrap();
        assert_eq!(manager["type"], "complex");
        let group = schema_document(GROUP_SCHEMA, BASE).unwrap();
        let members = group["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "members")
            .unwrap();
        assert_eq!(members["multiValued"], true);
        assert!(schema_document("urn:unknown", BASE).is_none());
    }

    #[test]
    fn resource_types() {
        let list = resource_types_list(BASE);
        assert_eq!(list["totalResults"], 2);
        let user = resource_type_document("user", BASE).unwrap();
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(user["schema"], USER_SCHEMA);
        assert_eq!(
            user["schemaExtensions"][0]["schema"],
            ENTERPRISE_USER_SCHEMA
        );
        assert_eq!(user["schemaExtensions"][0]["required"], false);
        let group = resource_type_document("Group", BASE).unwrap();
        assert_eq!(group["endpoint"], "/Groups");
        assert!(resource_type_document("Device", BASE).is_none());
    }

    #[test]
    fn resolution_is_case_insensitive_and_urn_aware() {
        let user = ResourceSchema::user();
        let r = user.resolve_top(None, "USERNAME").unwrap();
        assert_eq!(r.def.unwrap().name, "userName");
        assert!(r.extension.is_none());
        let r = user
            .resolve_top(Some(ENTERPRISE_USER_SCHEMA), "employeenumber")
            .unwrap();
        assert_eq!(r.extension, Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(r.def.unwrap().name, "employeeNumber");
        let r = user.resolve_top(None, "department").unwrap();
        assert_eq!(r.extension, Some(ENTERPRISE_USER_SCHEMA));
        let r = user
            .resolve_top(Some(ENTERPRISE_USER_SCHEMA), "customThing")
            .unwrap();
        assert!(r.def.is_none());
        assert!(user.resolve_top(Some("urn:other:1"), "x").is_none());
        assert!(user.resolve_top(None, "nonsense").is_none());
        assert!(
            user.resolve_top(Some(USER_SCHEMA), "id")
                .unwrap()
                .def
                .unwrap()
                .case_exact
        );
    }
}
