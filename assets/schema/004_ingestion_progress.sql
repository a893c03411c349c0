-- Canton Integration DB, reference schema: ingestion progress from offset checkpoints, and the
-- switch for non-unique record times.

SET LOCAL ROLE canton_integration;

-- The latest record time Tx History Ingestion has seen on the synchronizer, from an ingested
-- (or skipped) transaction or from an offset checkpoint. Unlike last_record_time it keeps
-- advancing while no treasury transaction happens, so "ingestion has passed tSafe" can be
-- observed on a quiet ledger.
ALTER TABLE integration.ingestion_state ADD COLUMN observed_record_time timestamptz;
COMMENT ON COLUMN integration.ingestion_state.observed_record_time IS
    'Latest record time seen in a transaction or an offset checkpoint';

-- When set, ingestion recognises transactions it already ingested by their update id instead
-- of skipping every transaction at or before the last ingested record time (for participants
-- whose history has non-unique record times: ACS imports, party migrations, repairs).
ALTER TABLE integration.ingestion_config
    ADD COLUMN skip_known_update_ids boolean NOT NULL DEFAULT false;

RESET ROLE;
