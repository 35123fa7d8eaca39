-- Service tokens, application-wide token revocation, the re-login block after an administrator
-- revokes a user, and the generation counter that lets other processes notice changes.

-- Machine credentials. The secret is stored only as a SHA-256 digest (hex); it is 32 random bytes,
-- so a fast digest is enough. A rotation keeps the previous digest valid until
-- previous_secret_expires_at so that clients can switch without an outage.
CREATE TABLE service_tokens (
    id                          TEXT    NOT NULL PRIMARY KEY,
    name                        TEXT    NOT NULL,
    client_id                   TEXT    NOT NULL,
    secret_hash                 TEXT    NOT NULL,
    previous_secret_hash        TEXT,
    previous_secret_expires_at  INTEGER,
    duration                    TEXT    NOT NULL,
    expires_at                  INTEGER,
    enabled                     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL,
    CONSTRAINT service_tokens_name_key UNIQUE (name),
    CONSTRAINT service_tokens_client_id_key UNIQUE (client_id)
);

-- Application tokens of an application issued at or before this instant are refused.
ALTER TABLE applications ADD COLUMN tokens_revoked_at INTEGER;

-- After an administrator revokes a user, logins are refused until this instant.
ALTER TABLE users ADD COLUMN login_blocked_until INTEGER;

-- Bumped by every write that other nodes must apply to their memory (the same writes that publish
-- to the change feed), so that a process that cannot hear the feed can poll one number.
CREATE TABLE generation (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    value  INTEGER NOT NULL
);
INSERT INTO generation (id, value) VALUES (1, 0);
