-- Reusable policies, rule groups and lists, from the configuration file (read_only) or made through
-- the admin API. `config` holds the object's declaration as JSON, in the configuration file's shape.
CREATE TABLE access_objects (
    kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('policy', 'rule_group', 'list')),
    id          TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    config      TEXT             NOT NULL,
    read_only   BIGINT           NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    created_at  BIGINT           NOT NULL,
    updated_at  BIGINT           NOT NULL,
    CONSTRAINT access_objects_pkey PRIMARY KEY (kind, id)
);
