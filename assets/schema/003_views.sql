-- Canton Integration DB, reference schema: read models used by operators and checks.

SET LOCAL ROLE canton_integration;

-- Withdrawals that may still be executed on-chain (pending or submitted).
CREATE VIEW integration.inflight_withdrawals AS
    SELECT withdrawal_id, customer_id, amount, status, trec_tgt, requested_at, recovered
      FROM integration.withdrawals
     WHERE status IN ('pending', 'submitted');

-- Balance per customer and instrument: credits minus debits.
CREATE VIEW integration.customer_balances AS
    SELECT customer_id, instrument_admin, instrument_id,
           sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END) AS balance
      FROM integration.customer_ledger
     GROUP BY customer_id, instrument_admin, instrument_id;

-- Unspent holdings and who (if anyone) holds a reservation on them that has not expired.
CREATE VIEW integration.unspent_holdings AS
    SELECT h.contract_id, h.instrument_admin, h.instrument_id, h.amount, h.locked,
           h.created_record_time, r.withdrawal_id AS reserved_by, r.reserved_until
      FROM integration.holdings h
      LEFT JOIN integration.holding_reservations r ON r.contract_id = h.contract_id
     WHERE h.archived_update_id IS NULL;

RESET ROLE;
