-- Reusable policies, rule groups and lists, from the configuration file (read_only) or made through
-- the admin API. `config` holds the object's declaration as JSON, in the configuration file's shape.
CREATE TABLE access_objects (
    kind        TEXT    NOT NULL CHECK (kind IN ('policy', 'rule_group', 'list')),
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    read_only   INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
