-- Hub sync server, SQLite schema v2: paired tablets and staff PINs (R-STAFF-1…3).
-- Applied after 0001 by `migrate` in sync-server/src/store/sqlite/mod.rs.

-- A tablet paired to one unit. Its credential is a bearer token kept only as its SHA-256;
-- a revoked device keeps its row (the list shows when and by whom) but no longer signs in.
CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    unit_id      TEXT NOT NULL REFERENCES units(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    paired_by    TEXT NOT NULL REFERENCES users(id),
    paired_at    TEXT NOT NULL,
    last_seen_at TEXT,
    revoked_at   TEXT,
    -- NULL with `revoked_at` set: the device unpaired itself.
    revoked_by   TEXT REFERENCES users(id)
);
CREATE INDEX devices_unit ON devices(unit_id);

-- A pairing code a staff member created for a unit (R-STAFF-3: one use, 60 minutes, five
-- wrong tries). The first half of the code finds the pairing and is kept as typed; of the
-- second half, the secret, only a hash.
CREATE TABLE device_pairings (
    id              TEXT PRIMARY KEY,
    unit_id         TEXT NOT NULL REFERENCES units(id),
    lookup          TEXT NOT NULL,
    secret_hash     TEXT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users(id),
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    used_at         TEXT,
    device_id       TEXT REFERENCES devices(id)
);
CREATE INDEX device_pairings_lookup ON device_pairings(lookup);
CREATE INDEX device_pairings_unit ON device_pairings(unit_id);

-- A staff member's personal PIN (one across their units) and its lockout state. The
-- verifier is what tablets check PINs against offline; the unit's tablets get a copy in
-- their `tablet_staff` entities.
CREATE TABLE staff_pins (
    user_id  TEXT PRIMARY KEY REFERENCES users(id),
    salt     TEXT NOT NULL,
    rounds   INTEGER NOT NULL,
    hash     TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked   INTEGER NOT NULL DEFAULT 0
);
