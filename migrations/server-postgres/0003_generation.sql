-- Hub sync server, PostgreSQL schema v3: the commit generation. Every write transaction of
-- every instance adds one to it just before COMMIT, so a value read after a moment counts
-- every commit acknowledged before that moment. An instance answers a person's pull at the
-- head from memory while it has not moved (sync-server/src/pull_cache.rs).
INSERT INTO meta (key, value) VALUES ('generation', 0) ON CONFLICT (key) DO NOTHING;
