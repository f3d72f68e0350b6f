-- proxctl state store, SQLite, version 4: the remotes (Proxmox clusters) of `proxctl serve`.
-- A token secret is never kept here, only where to find it (env:NAME or file:PATH).
CREATE TABLE remotes (
    name        TEXT    PRIMARY KEY,
    url         TEXT    NOT NULL,
    fingerprint TEXT,
    token_id    TEXT    NOT NULL,
    secret_ref  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
