-- proxctl state store, PostgreSQL, version 2: resource locks, and which holder ran each apply, so
-- that a live apply's work is told apart from a crashed one's.
CREATE TABLE locks (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    purpose     TEXT    NOT NULL,
    acquired_at BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX locks_by_holder ON locks (holder);

ALTER TABLE applies ADD COLUMN holder TEXT;
