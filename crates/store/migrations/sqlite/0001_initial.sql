-- Initial schema of the Portcullis store (SQLite).
--
-- Kept portable on purpose so that migrations/postgres/ can mirror it column for column:
-- ids are TEXT (hyphenated UUIDs, or opaque strings for session ids and key ids), instants are
-- INTEGER unix seconds, JSON documents are TEXT, booleans are INTEGER 0/1.

-- Identity providers ("login methods" in Cloudflare's vocabulary).
CREATE TABLE login_methods (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    read_only   INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT login_methods_name_key UNIQUE (name)
);

CREATE TABLE applications (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    aud         TEXT    NOT NULL,
    domain      TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    read_only   INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT applications_name_key UNIQUE (name),
    CONSTRAINT applications_aud_key UNIQUE (aud)
);

-- The user registry: one row per (normalised) email address.
CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    email               TEXT    NOT NULL,
    name                TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    last_login_at       INTEGER,
    last_seen_identity  TEXT,
    seat                INTEGER NOT NULL DEFAULT 0 CHECK (seat IN (0, 1)),
    CONSTRAINT users_email_key UNIQUE (email)
);

-- Every identity a user has logged in with, newest last. idp_id is deliberately not a foreign key:
-- removing an identity provider must not rewrite who logged in with it.
CREATE TABLE identities (
    id        TEXT    NOT NULL PRIMARY KEY,
    user_id   TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idp_id    TEXT    NOT NULL,
    identity  TEXT    NOT NULL,
    seen_at   INTEGER NOT NULL
);
CREATE INDEX identities_user_seen_idx ON identities (user_id, seen_at);

-- Global sessions; the id is the identity_nonce carried by every token minted from the session.
CREATE TABLE sessions (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idp_id      TEXT    NOT NULL,
    identity    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
-- Start-up loads the revoked-and-unexpired set; revoked rows are few.
CREATE INDEX sessions_revoked_idx ON sessions (expires_at) WHERE revoked_at IS NOT NULL;

-- Keys that sign our tokens. The private key arrives sealed by the caller; this table never sees it
-- in clear.
CREATE TABLE signing_keys (
    kid                 TEXT    NOT NULL PRIMARY KEY,
    alg                 TEXT    NOT NULL,
    sealed_private_key  BLOB    NOT NULL,
    created_at          INTEGER NOT NULL,
    retired_at          INTEGER
);

-- Authentication log. seq only gives records written in the same second a stable order; it is not
-- part of the API. No foreign keys: the log outlives the users, apps and IdPs it mentions.
CREATE TABLE auth_logs (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL,
    ray_id      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    user_email  TEXT,
    user_id     TEXT,
    ip_address  TEXT,
    app_uid     TEXT,
    app_domain  TEXT,
    app_name    TEXT,
    connection  TEXT    NOT NULL,
    idp_id      TEXT,
    action      TEXT    NOT NULL,
    allowed     INTEGER NOT NULL CHECK (allowed IN (0, 1)),
    reason      TEXT,
    country     TEXT,
    CONSTRAINT auth_logs_id_key UNIQUE (id)
);
CREATE INDEX auth_logs_created_idx ON auth_logs (created_at);
CREATE INDEX auth_logs_email_created_idx ON auth_logs (user_email, created_at);
CREATE INDEX auth_logs_app_created_idx ON auth_logs (app_uid, created_at);

CREATE TABLE settings (
    key    TEXT NOT NULL PRIMARY KEY,
    value  TEXT NOT NULL
);
