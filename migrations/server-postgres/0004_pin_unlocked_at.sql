-- Hub sync server, PostgreSQL schema v4: when a sign-in with password last unlocked a staff
-- member's PIN (R-STAFF-3), as migrations/server-sqlite/0003 with a native type. Tablets
-- report PIN attempts late (offline for a day); one made before this moment does not count.
-- NULL: no sign-in since the PIN was set (or since before this column), every attempt counts.
ALTER TABLE staff_pins ADD COLUMN unlocked_at timestamptz;
