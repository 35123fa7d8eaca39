-- SCIM provisioning: the users and groups each identity provider pushes, group members in their
-- own table (one row per membership, so adding or removing one member costs the same in a group
-- of ten and in a group of a hundred thousand), and the provisioning log.
--
-- Every row carries the identity provider it came from: each provider's SCIM data is separate.
-- SCIM instants are unix milliseconds (meta.created/lastModified have millisecond precision).

CREATE TABLE scim_users (
    id                TEXT    NOT NULL PRIMARY KEY,
    idp_id            TEXT    NOT NULL,
    user_name         TEXT    NOT NULL,
    -- Lower-case userName: userName is unique per provider and compared case-insensitively.
    user_name_key     TEXT    NOT NULL,
    external_id       TEXT,
    display_name_key  TEXT,
    active            INTEGER NOT NULL CHECK (active IN (0, 1)),
    -- The canonical SCIM attributes, as the protocol layer produced them.
    attributes        TEXT    NOT NULL,
    -- The registry user this SCIM user is linked to (by userName or primary email).
    registry_user_id  TEXT    REFERENCES users (id) ON DELETE SET NULL,
    created_ms        INTEGER NOT NULL,
    modified_ms       INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    CONSTRAINT scim_users_user_name_key UNIQUE (idp_id, user_name_key)
);
CREATE INDEX scim_users_external_idx ON scim_users (idp_id, external_id);
CREATE INDEX scim_users_display_idx ON scim_users (idp_id, display_name_key);
CREATE INDEX scim_users_registry_idx ON scim_users (registry_user_id);

-- Every email value of a SCIM user, lower-case, for `emails[...].value eq` lookups.
CREATE TABLE scim_user_emails (
    user_id  TEXT NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    idp_id   TEXT NOT NULL,
    email    TEXT NOT NULL,
    PRIMARY KEY (user_id, email)
);
CREATE INDEX scim_user_emails_lookup_idx ON scim_user_emails (idp_id, email);

CREATE TABLE scim_groups (
    id                TEXT    NOT NULL PRIMARY KEY,
    idp_id            TEXT    NOT NULL,
    display_name      TEXT    NOT NULL,
    -- Lower-case displayName: unique per provider (Entra requires it).
    display_name_key  TEXT    NOT NULL,
    external_id       TEXT,
    created_ms        INTEGER NOT NULL,
    modified_ms       INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    CONSTRAINT scim_groups_display_name_key UNIQUE (idp_id, display_name_key)
);
CREATE INDEX scim_groups_external_idx ON scim_groups (idp_id, external_id);

-- Direct members. member_id is the SCIM id the client sent; it may name a user that is not
-- provisioned (yet), so it is deliberately not a foreign key.
CREATE TABLE scim_group_members (
    group_id   TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    member_id  TEXT NOT NULL,
    display    TEXT,
    kind       TEXT,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX scim_group_members_member_idx ON scim_group_members (member_id);

-- The provisioning log: one row per SCIM request. seq orders rows written in the same
-- millisecond; it is not part of the API. No foreign keys: the log outlives what it mentions.
CREATE TABLE scim_logs (
    seq                INTEGER PRIMARY KEY,
    id                 TEXT    NOT NULL,
    idp_id             TEXT    NOT NULL,
    logged_ms          INTEGER NOT NULL,
    request_method     TEXT    NOT NULL,
    resource_type      TEXT    NOT NULL,
    user_email         TEXT,
    group_name         TEXT,
    resource_id        TEXT,
    external_id        TEXT,
    success            INTEGER NOT NULL CHECK (success IN (0, 1)),
    error_description  TEXT,
    request_body       TEXT,
    CONSTRAINT scim_logs_id_key UNIQUE (id)
);
CREATE INDEX scim_logs_idp_logged_idx ON scim_logs (idp_id, logged_ms);
