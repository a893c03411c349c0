-- Canton Integration DB, reference schema: holdings (UTXOs), withdrawals, reservations,
-- customer credits and debits, and the withdrawals switch.

SET LOCAL ROLE canton_integration;

-- Holding UTXOs of the treasury party, as ingested from the ledger. Amounts use the Daml
-- Decimal precision (38 digits, 10 after the point).
CREATE TABLE integration.holdings (
    contract_id          text PRIMARY KEY,
    owner_party          text NOT NULL,
    instrument_admin     text NOT NULL,
    instrument_id        text NOT NULL,
    amount               numeric(38, 10) NOT NULL CHECK (amount > 0),
    locked               boolean NOT NULL DEFAULT false,
    created_update_id    text NOT NULL REFERENCES integration.ingested_transactions,
    created_offset       bigint NOT NULL CHECK (created_offset >= 0),
    created_record_time  timestamptz NOT NULL,
    archived_update_id   text REFERENCES integration.ingested_transactions,
    archived_offset      bigint CHECK (archived_offset >= 0),
    archived_record_time timestamptz,
    CHECK ((archived_update_id IS NULL) = (archived_record_time IS NULL)),
    CHECK ((archived_update_id IS NULL) = (archived_offset IS NULL))
);
CREATE INDEX holdings_unspent ON integration.holdings (instrument_admin, instrument_id)
    WHERE archived_update_id IS NULL;

-- Withdrawal requests. Written by the exchange's internal systems (pending), advanced by the
-- Withdrawal Automation (submitted, failed) and by ingestion (completed). trec_tgt is the
-- target record time: the transfer must be committed before it, and the reserved holdings
-- stay reserved until it has passed. A record re-created by ingestion from on-chain data
-- after a DB restore is marked recovered; fields it could not recover stay NULL.
CREATE TABLE integration.withdrawals (
    withdrawal_id         text PRIMARY KEY,
    customer_id           text,
    receiver_party        text NOT NULL,
    instrument_admin      text NOT NULL,
    instrument_id         text NOT NULL,
    amount                numeric(38, 10) NOT NULL CHECK (amount > 0),
    status                text NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'submitted', 'completed', 'failed')),
    failure_reason        text,
    trec_tgt              timestamptz,
    requested_at          timestamptz,
    submitted_at          timestamptz,
    completed_update_id   text REFERENCES integration.ingested_transactions,
    completed_record_time timestamptz,
    recovered             boolean NOT NULL DEFAULT false,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (recovered OR (customer_id IS NOT NULL AND trec_tgt IS NOT NULL
                         AND requested_at IS NOT NULL)),
    CHECK ((status = 'completed') = (completed_update_id IS NOT NULL)),
    CHECK (status <> 'failed' OR failure_reason IS NOT NULL)
);
CREATE INDEX withdrawals_in_flight ON integration.withdrawals (trec_tgt)
    WHERE status IN ('pending', 'submitted');

-- Which withdrawal reserved which holding, until when (the withdrawal's trec_tgt). One
-- reservation per holding at a time: a UTXO is never reserved for two withdrawals.
CREATE TABLE integration.holding_reservations (
    contract_id    text PRIMARY KEY REFERENCES integration.holdings,
    withdrawal_id  text NOT NULL REFERENCES integration.withdrawals ON DELETE CASCADE,
    reserved_until timestamptz NOT NULL,
    reserved_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holding_reservations_withdrawal ON integration.holding_reservations (withdrawal_id);

-- Customer credits (ingested deposits, refunds) and debits (withdrawals). Ingested entries
-- carry their update id, so re-ingesting the same update cannot book it twice.
CREATE TABLE integration.customer_ledger (
    entry_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id      text NOT NULL,
    instrument_admin text NOT NULL,
    instrument_id    text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('credit', 'debit')),
    reason           text NOT NULL
                         CHECK (reason IN ('deposit', 'withdrawal', 'withdrawal_refund',
                                           'adjustment')),
    amount           numeric(38, 10) NOT NULL CHECK (amount > 0),
    update_id        text REFERENCES integration.ingested_transactions,
    withdrawal_id    text REFERENCES integration.withdrawals,
    record_time      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (update_id, customer_id, direction)
);
CREATE INDEX customer_ledger_customer ON integration.customer_ledger (customer_id);

-- The switch that lets the exchange's internal systems accept new withdrawal requests.
CREATE TABLE integration.withdrawal_control (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    enabled    boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text,
    reason     text
);
INSERT INTO integration.withdrawal_control (enabled, changed_by, reason)
    VALUES (true, 'schema', 'initial state');

RESET ROLE;
