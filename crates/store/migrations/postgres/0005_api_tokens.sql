-- Admin API tokens. The token itself is shown once; only its SHA-256 digest (hex) is kept.
CREATE TABLE api_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL,
    scope       TEXT    NOT NULL CHECK (scope IN ('read', 'write')),
    created_at  BIGINT NOT NULL,
    CONSTRAINT api_tokens_name_key UNIQUE (name),
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
