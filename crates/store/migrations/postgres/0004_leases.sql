-- Leases: which node runs a cluster-wide scheduled job (key rotation, seat expiry, log
-- retention) until when. A holder renews its lease; anyone may take an expired one.
CREATE TABLE leases (
    name    TEXT    NOT NULL PRIMARY KEY,
    holder  TEXT    NOT NULL,
    until   BIGINT  NOT NULL
);
