-- proxctl state store, SQLite, version 1. Append-only: never edit this file once released;
-- add 0002_*.sql instead. Times are microseconds since the Unix epoch.
CREATE TABLE resources (
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    spec_hash  TEXT    NOT NULL,
    vmid       INTEGER,
    node       TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE INDEX resources_by_vmid ON resources (vmid);

CREATE TABLE applies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    actor       TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    plan        TEXT    NOT NULL,
    status      TEXT,
    detail      TEXT
);

CREATE TABLE journal (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    apply_id    INTEGER NOT NULL REFERENCES applies (id),
    resource    TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    params      TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    state       TEXT    NOT NULL,
    detail      TEXT
);
CREATE INDEX journal_by_state ON journal (state);

CREATE TABLE vmid_leases (
    vmid       INTEGER PRIMARY KEY,
    holder     TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE ip_allocations (
    pool         TEXT    NOT NULL,
    ip           TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    allocated_at INTEGER NOT NULL,
    PRIMARY KEY (pool, ip)
);

CREATE TABLE snapshot_ttls (
    vmid       INTEGER NOT NULL,
    snapshot   TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (vmid, snapshot)
);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    time_us   INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    profile   TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    params    TEXT    NOT NULL,
    result    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_by_target ON audit_log (target);

-- The chain's head, kept apart from the rows so that cutting rows off the end shows. Seeded so
-- that appenders always have a row to lock.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
