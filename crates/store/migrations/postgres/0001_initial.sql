-- Initial schema of the Portcullis store (PostgreSQL), mirroring migrations/sqlite column for
-- column so that both backends share one set of row conversions (src/rows.rs) and one set of
-- corruption checks:
-- ids are TEXT (hyphenated UUIDs, or opaque strings for session ids and key ids), instants are
-- BIGINT unix seconds, JSON documents are TEXT, booleans are BIGINT 0/1 with a CHECK.
--
-- Text that is compared or sorted uses the "C" collation: byte order, as SQLite's BINARY, so that
-- lists come back in the same order on both backends whatever the database's locale.
-- Constraint names are spelled out: the store maps a uniqueness violation to the rule it broke
-- by the constraint's name.

CREATE TABLE login_methods (
    id          TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    kind        TEXT             NOT NULL,
    config      TEXT             NOT NULL,
    read_only   BIGINT           NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    created_at  BIGINT           NOT NULL,
    updated_at  BIGINT           NOT NULL,
    CONSTRAINT login_methods_pkey PRIMARY KEY (id),
    CONSTRAINT login_methods_name_key UNIQUE (name)
);

CREATE TABLE applications (
    id          TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    aud         TEXT COLLATE "C" NOT NULL,
    domain      TEXT             NOT NULL,
    config      TEXT             NOT NULL,
    read_only   BIGINT           NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    created_at  BIGINT           NOT NULL,
    updated_at  BIGINT           NOT NULL,
    CONSTRAINT applications_pkey PRIMARY KEY (id),
    CONSTRAINT applications_name_key UNIQUE (name),
    CONSTRAINT applications_aud_key UNIQUE (aud)
);

-- The user registry: one row per (normalised) email address.
CREATE TABLE users (
    id                  TEXT COLLATE "C" NOT NULL,
    email               TEXT COLLATE "C" NOT NULL,
    name                TEXT,
    created_at          BIGINT           NOT NULL,
    updated_at          BIGINT           NOT NULL,
    last_login_at       BIGINT,
    last_seen_identity  TEXT,
    seat                BIGINT           NOT NULL DEFAULT 0 CHECK (seat IN (0, 1)),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email)
);

-- Every identity a user has logged in with. idp_id is deliberately not a foreign key: removing an
-- identity provider must not rewrite who logged in with it.
CREATE TABLE identities (
    id        TEXT COLLATE "C" NOT NULL,
    user_id   TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idp_id    TEXT COLLATE "C" NOT NULL,
    identity  TEXT             NOT NULL,
    seen_at   BIGINT           NOT NULL,
    CONSTRAINT identities_pkey PRIMARY KEY (id)
);
CREATE INDEX identities_user_seen_idx ON identities (user_id, seen_at);

-- Global sessions; the id is the identity_nonce carried by every token minted from the session.
CREATE TABLE sessions (
    id          TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idp_id      TEXT COLLATE "C" NOT NULL,
    identity    TEXT             NOT NULL,
    created_at  BIGINT           NOT NULL,
    expires_at  BIGINT           NOT NULL,
    revoked_at  BIGINT,
    CONSTRAINT sessions_pkey PRIMARY KEY (id)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_idx ON sessions (expires_at) WHERE revoked_at IS NOT NULL;

-- Keys that sign our tokens; the private key arrives sealed by the caller.
CREATE TABLE signing_keys (
    kid                 TEXT COLLATE "C" NOT NULL,
    alg                 TEXT             NOT NULL,
    sealed_private_key  BYTEA            NOT NULL,
    created_at          BIGINT           NOT NULL,
    retired_at          BIGINT,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (kid)
);

-- Authentication log. seq only gives records written in the same second a stable order.
CREATE TABLE auth_logs (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    id          TEXT COLLATE "C" NOT NULL,
    ray_id      TEXT             NOT NULL,
    created_at  BIGINT           NOT NULL,
    user_email  TEXT COLLATE "C",
    user_id     TEXT,
    ip_address  TEXT,
    app_uid     TEXT COLLATE "C",
    app_domain  TEXT,
    app_name    TEXT,
    connection  TEXT             NOT NULL,
    idp_id      TEXT,
    action      TEXT             NOT NULL,
    allowed     BIGINT           NOT NULL CHECK (allowed IN (0, 1)),
    reason      TEXT,
    country     TEXT,
    CONSTRAINT auth_logs_pkey PRIMARY KEY (seq),
    CONSTRAINT auth_logs_id_key UNIQUE (id)
);
CREATE INDEX auth_logs_created_idx ON auth_logs (created_at);
CREATE INDEX auth_logs_email_created_idx ON auth_logs (user_email, created_at);
CREATE INDEX auth_logs_app_created_idx ON auth_logs (app_uid, created_at);

CREATE TABLE settings (
    key    TEXT COLLATE "C" NOT NULL,
    value  TEXT             NOT NULL,
    CONSTRAINT settings_pkey PRIMARY KEY (key)
);
