-- PLACEHOLDER on branch h-sign only: migration 010 belongs to h-reg (the
-- registry connection). The store refuses gaps in the numbering, so this
-- empty step lets 011 apply here. On merge, take h-reg's 010_registry.sql.
SELECT 1;
