-- Hub sync server, SQLite schema v1.
-- Pullable state lives in `entities` (one row per entity, latest version, tombstones kept);
-- the roster tables below only answer "who may see what" and rule look-ups.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    locale        TEXT NOT NULL DEFAULT 'sv',
    password_hash TEXT NOT NULL,
    email         TEXT,
    phone         TEXT
);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    device_id  TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE units (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE groups_ (
    id      TEXT PRIMARY KEY,
    unit_id TEXT NOT NULL REFERENCES units(id)
);

CREATE TABLE classes (
    id      TEXT PRIMARY KEY,
    unit_id TEXT NOT NULL REFERENCES units(id)
);

CREATE TABLE children (
    id              TEXT PRIMARY KEY,
    unit_id         TEXT NOT NULL REFERENCES units(id),
    class_id        TEXT REFERENCES classes(id),
    student_user_id TEXT REFERENCES users(id),
    personnummer    TEXT NOT NULL UNIQUE
);
CREATE INDEX children_unit ON children(unit_id);

CREATE TABLE child_groups (
    child_id TEXT NOT NULL REFERENCES children(id),
    group_id TEXT NOT NULL REFERENCES groups_(id),
    PRIMARY KEY (child_id, group_id)
);

CREATE TABLE guardianships (
    guardian_id TEXT NOT NULL REFERENCES users(id),
    child_id    TEXT NOT NULL REFERENCES children(id),
    PRIMARY KEY (guardian_id, child_id)
);
CREATE INDEX guardianships_child ON guardianships(child_id);

CREATE TABLE staff_units (
    staff_id TEXT NOT NULL REFERENCES users(id),
    unit_id  TEXT NOT NULL REFERENCES units(id),
    PRIMARY KEY (staff_id, unit_id)
);
CREATE INDEX staff_units_unit ON staff_units(unit_id);

CREATE TABLE thread_participants (
    thread_id TEXT NOT NULL,
    user_id   TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX thread_participants_user ON thread_participants(user_id);

-- Every pullable entity, latest version. `seq` is bumped from `meta.seq` on every write, so
-- "changes since cursor" and "full snapshot" are the same query.
CREATE TABLE entities (
    type    TEXT NOT NULL,
    id      TEXT NOT NULL,
    scope   TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    data    TEXT,
    PRIMARY KEY (type, id)
);
CREATE UNIQUE INDEX entities_seq ON entities(seq);
CREATE INDEX entities_scope_seq ON entities(scope, seq);

-- Content-addressed scope sets, named by pull cursors (so a cursor stays short).
CREATE TABLE scope_sets (
    hash   TEXT PRIMARY KEY,
    scopes TEXT NOT NULL
);

-- First outcome of every mutation id: pushes are idempotent by id.
CREATE TABLE mutations (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    result     TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

-- E-mail and SMS waiting for their adapter (R-MSG-1, R-ABS-7).
CREATE TABLE outgoing (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel    TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at    TEXT
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('seq', 0), ('min_cursor_seq', 0);
