-- Hub sync server, PostgreSQL schema v1: the same tables as migrations/server-sqlite/0001,
-- with native types (uuid, timestamptz, text[]). JSON documents are `json`, not `jsonb`:
-- the server never looks inside them, `json` keeps them as sent (no conversion on write or
-- read), and it accepts every string JSON can carry (`jsonb` rejects "\u0000", which a
-- SQLite server stores, so a message with one would fail only on PostgreSQL).
-- Pullable state lives in `entities` (one row per entity, latest version, tombstones kept);
-- the roster tables below only answer "who may see what" and rule look-ups.
-- Applied by the server at start, under a session advisory lock, so several instances may
-- start at once (sync-server/src/store/postgres/mod.rs, `migrate`).

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    role          text NOT NULL,
    locale        text NOT NULL DEFAULT 'sv',
    password_hash text NOT NULL,
    email         text,
    phone         text
);

CREATE TABLE tokens (
    token_hash text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users(id),
    device_id  text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE units (
    id   uuid PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE groups_ (
    id      uuid PRIMARY KEY,
    unit_id uuid NOT NULL REFERENCES units(id)
);
CREATE INDEX groups_unit ON groups_(unit_id);

CREATE TABLE classes (
    id      uuid PRIMARY KEY,
    unit_id uuid NOT NULL REFERENCES units(id)
);
CREATE INDEX classes_unit ON classes(unit_id);

CREATE TABLE children (
    id              uuid PRIMARY KEY,
    unit_id         uuid NOT NULL REFERENCES units(id),
    class_id        uuid REFERENCES classes(id),
    student_user_id uuid REFERENCES users(id),
    personnummer    text NOT NULL UNIQUE
);
CREATE INDEX children_unit ON children(unit_id);
CREATE INDEX children_student ON children(student_user_id);

CREATE TABLE child_groups (
    child_id uuid NOT NULL REFERENCES children(id),
    group_id uuid NOT NULL REFERENCES groups_(id),
    PRIMARY KEY (child_id, group_id)
);

CREATE TABLE guardianships (
    guardian_id uuid NOT NULL REFERENCES users(id),
    child_id    uuid NOT NULL REFERENCES children(id),
    PRIMARY KEY (guardian_id, child_id)
);
CREATE INDEX guardianships_child ON guardianships(child_id);

CREATE TABLE staff_units (
    staff_id uuid NOT NULL REFERENCES users(id),
    unit_id  uuid NOT NULL REFERENCES units(id),
    PRIMARY KEY (staff_id, unit_id)
);
CREATE INDEX staff_units_unit ON staff_units(unit_id);

CREATE TABLE thread_participants (
    thread_id uuid NOT NULL,
    user_id   uuid NOT NULL REFERENCES users(id),
    PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX thread_participants_user ON thread_participants(user_id);

-- Every pullable entity, latest version. `seq` is bumped from `meta.seq` on every write, so
-- "changes since cursor" and "full snapshot" are the same query. Writers are serialized
-- (one advisory lock), so `seq` grows in commit order: see store/postgres/mod.rs.
CREATE TABLE entities (
    type    text NOT NULL,
    id      uuid NOT NULL,
    scope   text NOT NULL,
    seq     bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    data    json,
    PRIMARY KEY (type, id)
);
CREATE UNIQUE INDEX entities_seq ON entities(seq);
CREATE INDEX entities_scope_seq ON entities(scope, seq);

-- Content-addressed scope sets, named by pull cursors (so a cursor stays short).
CREATE TABLE scope_sets (
    hash   text PRIMARY KEY,
    scopes text[] NOT NULL
);

-- First outcome of every mutation id: pushes are idempotent by id.
CREATE TABLE mutations (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    client_id  uuid NOT NULL,
    name       text NOT NULL,
    result     json NOT NULL,
    applied_at timestamptz NOT NULL
);

-- E-mail and SMS waiting for their adapter (R-MSG-1, R-ABS-7).
CREATE TABLE outgoing (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel    text NOT NULL,
    recipient  text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at    timestamptz
);

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO meta (key, value) VALUES ('seq', 0), ('min_cursor_seq', 0);
