-- Hub sync server, PostgreSQL schema v2: paired tablets and staff PINs (R-STAFF-1…3), the
-- same tables as migrations/server-sqlite/0002 with native types. Applied after 0001 by
-- `migrate` in sync-server/src/store/postgres/mod.rs.

-- A tablet paired to one unit. Its credential is a bearer token kept only as its SHA-256;
-- a revoked device keeps its row (the list shows when and by whom) but no longer signs in.
CREATE TABLE devices (
    id           uuid PRIMARY KEY,
    unit_id      uuid NOT NULL REFERENCES units(id),
    name         text NOT NULL,
    token_hash   text NOT NULL UNIQUE,
    paired_by    uuid NOT NULL REFERENCES users(id),
    paired_at    timestamptz NOT NULL,
    last_seen_at timestamptz,
    revoked_at   timestamptz,
    -- NULL with `revoked_at` set: the device unpaired itself.
    revoked_by   uuid REFERENCES users(id)
);
CREATE INDEX devices_unit ON devices(unit_id);

-- A pairing code a staff member created for a unit (R-STAFF-3: one use, 60 minutes, five
-- wrong tries). The first half of the code finds the pairing and is kept as typed; of the
-- second half, the secret, only a hash.
CREATE TABLE device_pairings (
    id              uuid PRIMARY KEY,
    unit_id         uuid NOT NULL REFERENCES units(id),
    lookup          text NOT NULL,
    secret_hash     text NOT NULL,
    created_by      uuid NOT NULL REFERENCES users(id),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    failed_attempts integer NOT NULL DEFAULT 0,
    used_at         timestamptz,
    device_id       uuid REFERENCES devices(id)
);
CREATE INDEX device_pairings_lookup ON device_pairings(lookup);
CREATE INDEX device_pairings_unit ON device_pairings(unit_id);

-- A staff member's personal PIN (one across their units) and its lockout state. The
-- verifier is what tablets check PINs against offline; the unit's tablets get a copy in
-- their `tablet_staff` entities.
CREATE TABLE staff_pins (
    user_id  uuid PRIMARY KEY REFERENCES users(id),
    salt     text NOT NULL,
    rounds   integer NOT NULL,
    hash     text NOT NULL,
    failures integer NOT NULL DEFAULT 0,
    locked   boolean NOT NULL DEFAULT false
);
