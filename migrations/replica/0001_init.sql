-- Hub client replica (app-core), schema v1. One database per (server, account).
-- Server state lives in `entity`; the user's own pending writes in `outbox` (and, once the
-- server applied them but before the next complete pull brought the result, in `settled`).
-- Reads are server state overlaid with `settled` then `outbox`, in order (app-core/src/overlay.rs).
-- The session token is never stored here (it lives in the OS keyring).

-- Small typed values, JSON-encoded: cursor, server offset, last sync, signed-in user, settings…
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every entity the server sent, as the server sent it (latest version only; deletes remove
-- the row). `child_id` is copied out of the data (or the id of a `child`) for per-child reads.
-- `gen` marks the bootstrap that last saw the row: a full snapshot sweeps rows it did not see.
CREATE TABLE entity (
    type     TEXT NOT NULL,
    id       TEXT NOT NULL,
    child_id TEXT,
    data     TEXT NOT NULL,
    gen      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (type, id)
);
CREATE INDEX entity_type_child ON entity(type, child_id);

-- Mutations not yet answered by the server, sent in `seq` order with the same `id` on every
-- retry. Written before the API call that queued it returns.
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    args       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

-- Applied by the server, result not pulled yet: still overlaid so the user's change does not
-- flicker away between the push answer and the pull. Cleared by the next complete pull.
CREATE TABLE settled (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    args       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

-- The needs-attention journal: rejected mutations, kept until the user dismisses them.
CREATE TABLE attention (
    id          TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    args        TEXT NOT NULL,
    code        TEXT NOT NULL,
    message     TEXT NOT NULL,
    details     TEXT,
    created_at  TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);

-- One row per notification ever pulled: whether a system notification is still to be shown
-- ('pending'), was handed out ('delivered'), or is not to be shown ('skipped': already
-- there when the account was first synced on this device, arrived read, or push off).
CREATE TABLE notify_log (
    id    TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'skipped')),
    at    TEXT NOT NULL
);
