-- proxctl state store, PostgreSQL, version 5: documents `proxctl serve` instances share
-- (operations started over the API, plans kept for a later apply), as JSON by kind and id.
CREATE TABLE server_documents (
    kind       TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX server_documents_by_age ON server_documents (kind, created_at);
