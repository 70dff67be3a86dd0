-- Hub client replica, schema v2: paired tablets (R-STAFF-1…3).
-- On a tablet several staff members work through one device credential, so every queued
-- mutation records who did it: the push sends it as the envelope's `actor`, and the overlay
-- shows that person as the author of a pending change. NULL: the signed-in user (a personal
-- session), or no one (`staff.pin_attempt`, which names its staff member in its args).
-- It travels with the mutation from the outbox to `settled` or to the journal.
ALTER TABLE outbox ADD COLUMN actor TEXT;
ALTER TABLE settled ADD COLUMN actor TEXT;
ALTER TABLE attention ADD COLUMN actor TEXT;
