-- Placeholder for h-pg's migration 017, so that this branch's 018 applies
-- (migrations are numbered without gaps). Drop this file at merge.
SELECT 1;
