-- Run once, when the database is created (the postgres image runs /docker-entrypoint-initdb.d/).
-- The server preloads the module (shared_preload_libraries in docker-compose.yml).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
