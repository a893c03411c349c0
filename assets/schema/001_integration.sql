-- Canton Integration DB, reference schema: roles, the schema itself, ingestion state.
--
-- Applied by canton-dr's apply_schema() inside one transaction, as a superuser.

-- The integration components (Tx History Ingestion, Withdrawal Automation, the exchange's
-- internal systems) own and write everything; canton-dr's checks only read.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'canton_integration') THEN
        CREATE ROLE canton_integration LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'canton_dr_reader') THEN
        CREATE ROLE canton_dr_reader LOGIN;
    END IF;
END
$$;
COMMENT ON ROLE canton_integration IS 'Owner and writer of the Canton Integration DB';
COMMENT ON ROLE canton_dr_reader IS 'Read-only role for canton-dr checks';
ALTER ROLE canton_dr_reader SET default_transaction_read_only = on;

CREATE SCHEMA integration AUTHORIZATION canton_integration;
REVOKE ALL ON SCHEMA integration FROM PUBLIC;
GRANT USAGE ON SCHEMA integration TO canton_dr_reader;

-- Unqualified names resolve to the integration schema in this database.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET search_path = integration, public', current_database());
END
$$;

-- Everything below is created (and owned) by the owner role.
SET LOCAL ROLE canton_integration;

-- Whatever the owner creates in the schema is readable (and only readable) by the reader.
ALTER DEFAULT PRIVILEGES IN SCHEMA integration GRANT SELECT ON TABLES TO canton_dr_reader;

CREATE TABLE integration.schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Where Tx History Ingestion stands. Written in the same transaction as every ingested
-- update. The offset keeps advancing while updates at or before the last ingested record
-- time are skipped after a validator restore (their offsets were reassigned).
CREATE TABLE integration.ingestion_state (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_offset      bigint NOT NULL CHECK (last_offset >= 0),
    last_record_time timestamptz,
    synchronizer_id  text,
    last_update_id   text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((last_record_time IS NULL) = (last_update_id IS NULL))
);
COMMENT ON COLUMN integration.ingestion_state.last_record_time IS
    'Record time of the last ingested transaction (tRecovery), microsecond precision';

-- Operator configuration read when ingestion starts: the offset to start from (offRecovery
-- after a validator restore). NULL resumes from ingestion_state.last_offset (or 0).
CREATE TABLE integration.ingestion_config (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    start_offset bigint CHECK (start_offset >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text
);

-- Maintained by the ingestion process itself: is it running, and is it alive.
CREATE TABLE integration.ingestion_status (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    running      boolean NOT NULL DEFAULT false,
    instance_id  text,
    started_at   timestamptz,
    heartbeat_at timestamptz,
    stopped_at   timestamptz
);

-- Every ingested update (transaction). The update id is the ledger-wide identity; offsets are
-- participant-local and may be reassigned by a restore, so they are not unique here.
CREATE TABLE integration.ingested_transactions (
    update_id       text PRIMARY KEY,
    ledger_offset   bigint NOT NULL CHECK (ledger_offset >= 0),
    record_time     timestamptz NOT NULL,
    synchronizer_id text NOT NULL,
    kind            text NOT NULL CHECK (kind IN (
                        'deposit', 'withdrawal', 'withdrawal_refund', 'merge', 'other')),
    ingested_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingested_transactions_record_time ON integration.ingested_transactions (record_time);
CREATE INDEX ingested_transactions_offset ON integration.ingested_transactions (ledger_offset);

INSERT INTO integration.ingestion_config (start_offset) VALUES (NULL);
INSERT INTO integration.ingestion_status (running) VALUES (false);

RESET ROLE;
