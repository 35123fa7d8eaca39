-- SCIM provisioning (as migrations/sqlite/0003): users and groups per identity provider, group
-- members one row each, and the provisioning log. SCIM instants are unix milliseconds.

CREATE TABLE scim_users (
    id                TEXT COLLATE "C" NOT NULL,
    idp_id            TEXT COLLATE "C" NOT NULL,
    user_name         TEXT             NOT NULL,
    user_name_key     TEXT COLLATE "C" NOT NULL,
    external_id       TEXT COLLATE "C",
    display_name_key  TEXT COLLATE "C",
    active            BIGINT           NOT NULL CHECK (active IN (0, 1)),
    attributes        TEXT             NOT NULL,
    registry_user_id  TEXT COLLATE "C" REFERENCES users (id) ON DELETE SET NULL,
    created_ms        BIGINT           NOT NULL,
    modified_ms       BIGINT           NOT NULL,
    version           BIGINT           NOT NULL,
    CONSTRAINT scim_users_pkey PRIMARY KEY (id),
    CONSTRAINT scim_users_user_name_key UNIQUE (idp_id, user_name_key)
);
CREATE INDEX scim_users_external_idx ON scim_users (idp_id, external_id);
CREATE INDEX scim_users_display_idx ON scim_users (idp_id, display_name_key);
CREATE INDEX scim_users_registry_idx ON scim_users (registry_user_id);

CREATE TABLE scim_user_emails (
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    idp_id   TEXT COLLATE "C" NOT NULL,
    email    TEXT COLLATE "C" NOT NULL,
    CONSTRAINT scim_user_emails_pkey PRIMARY KEY (user_id, email)
);
CREATE INDEX scim_user_emails_lookup_idx ON scim_user_emails (idp_id, email);

CREATE TABLE scim_groups (
    id                TEXT COLLATE "C" NOT NULL,
    idp_id            TEXT COLLATE "C" NOT NULL,
    display_name      TEXT             NOT NULL,
    display_name_key  TEXT COLLATE "C" NOT NULL,
    external_id       TEXT COLLATE "C",
    created_ms        BIGINT           NOT NULL,
    modified_ms       BIGINT           NOT NULL,
    version           BIGINT           NOT NULL,
    CONSTRAINT scim_groups_pkey PRIMARY KEY (id),
    CONSTRAINT scim_groups_display_name_key UNIQUE (idp_id, display_name_key)
);
CREATE INDEX scim_groups_external_idx ON scim_groups (idp_id, external_id);

-- member_id may name a user that is not provisioned (yet): deliberately not a foreign key.
CREATE TABLE scim_group_members (
    group_id   TEXT COLLATE "C" NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    member_id  TEXT COLLATE "C" NOT NULL,
    display    TEXT,
    kind       TEXT,
    CONSTRAINT scim_group_members_pkey PRIMARY KEY (group_id, member_id)
);
CREATE INDEX scim_group_members_member_idx ON scim_group_members (member_id);

CREATE TABLE scim_logs (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY,
    id                 TEXT COLLATE "C" NOT NULL,
    idp_id             TEXT COLLATE "C" NOT NULL,
    logged_ms          BIGINT           NOT NULL,
    request_method     TEXT             NOT NULL,
    resource_type      TEXT             NOT NULL,
    user_email         TEXT,
    group_name         TEXT,
    resource_id        TEXT COLLATE "C",
    external_id        TEXT COLLATE "C",
    success            BIGINT           NOT NULL CHECK (success IN (0, 1)),
    error_description  TEXT,
    request_body       TEXT,
    CONSTRAINT scim_logs_pkey PRIMARY KEY (seq),
    CONSTRAINT scim_logs_id_key UNIQUE (id)
);
CREATE INDEX scim_logs_idp_logged_idx ON scim_logs (idp_id, logged_ms);
