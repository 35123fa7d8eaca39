-- Service tokens, application-wide token revocation, the re-login block after an administrator
-- revokes a user, and the generation counter (as migrations/sqlite/0002).

CREATE TABLE service_tokens (
    id                          TEXT COLLATE "C" NOT NULL,
    name                        TEXT COLLATE "C" NOT NULL,
    client_id                   TEXT COLLATE "C" NOT NULL,
    secret_hash                 TEXT             NOT NULL,
    previous_secret_hash        TEXT,
    previous_secret_expires_at  BIGINT,
    duration                    TEXT             NOT NULL,
    expires_at                  BIGINT,
    enabled                     BIGINT           NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at                  BIGINT           NOT NULL,
    updated_at                  BIGINT           NOT NULL,
    CONSTRAINT service_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT service_tokens_name_key UNIQUE (name),
    CONSTRAINT service_tokens_client_id_key UNIQUE (client_id)
);

ALTER TABLE applications ADD COLUMN tokens_revoked_at BIGINT;

ALTER TABLE users ADD COLUMN login_blocked_until BIGINT;

-- Bumped by every write that publishes a change; processes that cannot hear the feed poll it.
CREATE TABLE generation (
    id     BIGINT NOT NULL CHECK (id = 1),
    value  BIGINT NOT NULL,
    CONSTRAINT generation_pkey PRIMARY KEY (id)
);
INSERT INTO generation (id, value) VALUES (1, 0);
