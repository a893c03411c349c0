//! The treasury's contracts and how they look on the Ledger API.
//!
//! Two templates of the package `exchange-treasury` (module `Exchange.Treasury`):
//! - `Holding { owner: Party, instrument: Text, amount: Numeric 10 }`: a UTXO of the treasury.
//! - `TransferReceipt { treasury: Party, kind: TransferKind, counterparty: Party,
//!   account: Optional Text, reason: Optional Text, amount: Numeric 10,
//!   executeBefore: Optional Time }`, where `TransferKind` is the enum `Deposit | Withdrawal`.
//!   A deposit names the customer and the deposit account; a withdrawal names the destination,
//!   the withdrawal id (as `reason`) and its target record time (`executeBefore`).
//!
//! Arguments are encoded as Ledger API `Record`s with labels and type ids (the verbose form).
//! The decoders read either form: by label when labels are present, otherwise by position.

use chrono::{DateTime, Utc};

use super::amount::Amount;
use crate::probe::canton::proto::com::daml::ledger::api::v2 as lapi;
use lapi::value::Sum;

/// The package name of the treasury templates.
pub const PACKAGE_NAME: &str = "exchange-treasury";
/// The module of the treasury templates.
pub const MODULE: &str = "Exchange.Treasury";
/// The entity name of the holding template.
pub const HOLDING: &str = "Holding";
/// The entity name of the transfer receipt template.
pub const TRANSFER_RECEIPT: &str = "TransferReceipt";
/// The entity name of the transfer kind enum.
pub const TRANSFER_KIND: &str = "TransferKind";
/// The instrument every treasury holding is denominated in.
pub const INSTRUMENT: &str = "Amulet";

/// A UTXO held by the treasury.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub contract_id: String,
    pub owner: String,
    pub instrument: String,
    pub amount: Amount,
}

/// Which way a transfer went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// A customer paid into the treasury.
    Deposit,
    /// The treasury paid out to a destination.
    Withdrawal,
}

impl TransferKind {
    /// The enum constructor on the ledger.
    pub fn constructor(self) -> &'static str {
        match self {
            TransferKind::Deposit => "Deposit",
            TransferKind::Withdrawal => "Withdrawal",
        }
    }
}

/// The on-ledger record of one deposit or withdrawal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub contract_id: String,
    pub treasury: String,
    pub kind: TransferKind,
    /// The customer of a deposit, or the destination of a withdrawal.
    pub counterparty: String,
    /// The deposit account a deposit is credited to.
    pub account: Option<String>,
    /// The withdrawal id of a withdrawal.
    pub reason: Option<String>,
    pub amount: Amount,
    /// The target record time (trecTgt) of a withdrawal.
    pub execute_before: Option<DateTime<Utc>>,
}

/// A contract created by a treasury transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contract {
    Holding(Holding),
    Receipt(Receipt),
}

impl Contract {
    /// The contract id.
    pub fn contract_id(&self) -> &str {
        match self {
            Contract::Holding(h) => &h.contract_id,
            Contract::Receipt(r) => &r.contract_id,
        }
    }

    /// The template entity name.
    pub fn entity(&self) -> &'static str {
        match self {
            Contract::Holding(_) => HOLDING,
            Contract::Receipt(_) => TRANSFER_RECEIPT,
        }
    }

    /// The template id in the given package.
    pub fn template_id(&self, package_id: &str) -> lapi::Identifier {
        template_id(package_id, self.entity())
    }

    /// Signatories of the contract.
    pub fn signatories(&self) -> Vec<String> {
        match self {
            Contract::Holding(h) => vec![h.owner.clone()],
            Contract::Receipt(r) => vec![r.treasury.clone()],
        }
    }

    /// Observers of the contract.
    pub fn observers(&self) -> Vec<String> {
        match self {
            Contract::Holding(_) => Vec::new(),
            Contract::Receipt(r) => vec![r.counterparty.clone()],
        }
    }

    /// The create arguments, in the verbose form (labels and record id).
    pub fn create_arguments(&self, package_id: &str) -> lapi::Record {
        match self {
            Contract::Holding(h) => record(
                template_id(package_id, HOLDING),
                vec![
                    ("owner", Sum::Party(h.owner.clone())),
                    ("instrument", Sum::Text(h.instrument.clone())),
                    ("amount", Sum::Numeric(h.amount.to_string())),
                ],
            ),
            Contract::Receipt(r) => record(
                template_id(package_id, TRANSFER_RECEIPT),
                vec![
                    ("treasury", Sum::Party(r.treasury.clone())),
                    (
                        "kind",
                        Sum::Enum(lapi::Enum {
                            enum_id: Some(template_id(package_id, TRANSFER_KIND)),
                            constructor: r.kind.constructor().to_string(),
                        }),
                    ),
                    ("counterparty", Sum::Party(r.counterparty.clone())),
                    ("account", optional(r.account.clone().map(Sum::Text))),
                    ("reason", optional(r.reason.clone().map(Sum::Text))),
                    ("amount", Sum::Numeric(r.amount.to_string())),
                    (
                        "executeBefore",
                        optional(
                            r.execute_before
                                .map(|t| Sum::Timestamp(t.timestamp_micros())),
                        ),
                    ),
                ],
            ),
        }
    }
}

/// A treasury template or type id.
pub fn template_id(package_id: &str, entity: &str) -> lapi::Identifier {
    lapi::Identifier {
        package_id: package_id.to_string(),
        module_name: MODULE.to_string(),
        entity_name: entity.to_string(),
    }
}

fn record(record_id: lapi::Identifier, fields: Vec<(&str, Sum)>) -> lapi::Record {
    lapi::Record {
        record_id: Some(record_id),
        fields: fields
            .into_iter()
            .map(|(label, sum)| lapi::RecordField {
                label: label.to_string(),
                value: Some(lapi::Value { sum: Some(sum) }),
            })
            .collect(),
    }
}

fn optional(inner: Option<Sum>) -> Sum {
    Sum::Optional(Box::new(lapi::Optional {
        value: inner.map(|s| Box::new(lapi::Value { sum: Some(s) })),
    }))
}

/// Removes labels and type ids from a record, as the Ledger API does when `verbose` is off.
pub fn strip_verbose(record: &mut lapi::Record) {
    record.record_id = None;
    for field in &mut record.fields {
        field.label.clear();
        if let Some(value) = field.value.as_mut() {
            strip_value(value);
        }
    }
}

fn strip_value(value: &mut lapi::Value) {
    match value.sum.as_mut() {
        Some(Sum::Record(r)) => strip_verbose(r),
        Some(Sum::Enum(e)) => e.enum_id = None,
        Some(Sum::Optional(o)) => {
            if let Some(v) = o.value.as_mut() {
                strip_value(v);
            }
        }
        _ => {}
    }
}

/// Why a created event is not a treasury contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("contract {contract_id}: {reason}")]
pub struct DecodeError {
    pub contract_id: String,
    pub reason: String,
}

/// Reads a treasury contract back from a created event (verbose or not).
pub fn decode_created(event: &lapi::CreatedEvent) -> Result<Contract, DecodeError> {
    let fail = |reason: String| DecodeError {
        contract_id: event.contract_id.clone(),
        reason,
    };
    let template = event
        .template_id
        .as_ref()
        .ok_or_else(|| fail("no template id".into()))?;
    if template.module_name != MODULE {
        return Err(fail(format!(
            "module {} is not {MODULE}",
            template.module_name
        )));
    }
    let args = event
        .create_arguments
        .as_ref()
        .ok_or_else(|| fail("no create arguments".into()))?;
    let fields = Fields { record: args };
    let contract_id = event.contract_id.clone();
    match template.entity_name.as_str() {
        HOLDING => Ok(Contract::Holding(Holding {
            contract_id,
            owner: fields.party("owner", 0).map_err(fail)?,
            instrument: fields.text("instrument", 1).map_err(fail)?,
            amount: fields.amount("amount", 2).map_err(fail)?,
        })),
        TRANSFER_RECEIPT => {
            let kind = match fields.get("kind", 1).map_err(&fail)? {
                Sum::Enum(e) if e.constructor == "Deposit" => TransferKind::Deposit,
                Sum::Enum(e) if e.constructor == "Withdrawal" => TransferKind::Withdrawal,
                other => return Err(fail(format!("field kind: unexpected {other:?}"))),
            };
            Ok(Contract::Receipt(Receipt {
                contract_id,
                treasury: fields.party("treasury", 0).map_err(&fail)?,
                kind,
                counterparty: fields.party("counterparty", 2).map_err(&fail)?,
                account: fields.optional_text("account", 3).map_err(&fail)?,
                reason: fields.optional_text("reason", 4).map_err(&fail)?,
                amount: fields.amount("amount", 5).map_err(&fail)?,
                execute_before: fields.optional_time("executeBefore", 6).map_err(&fail)?,
            }))
        }
        other => Err(fail(format!("unknown template {other}"))),
    }
}

struct Fields<'a> {
    record: &'a lapi::Record,
}

impl Fields<'_> {
    fn get(&self, label: &str, position: usize) -> Result<&Sum, String> {
        let labelled = self.record.fields.iter().any(|f| !f.label.is_empty());
        let field = if labelled {
            self.record.fields.iter().find(|f| f.label == label)
        } else {
            self.record.fields.get(position)
        };
        field
            .and_then(|f| f.value.as_ref())
            .and_then(|v| v.sum.as_ref())
            .ok_or_else(|| format!("field {label} is missing"))
    }

    fn party(&self, label: &str, position: usize) -> Result<String, String> {
        match self.get(label, position)? {
            Sum::Party(p) => Ok(p.clone()),
            other => Err(format!("field {label}: expected a party, found {other:?}")),
        }
    }

    fn text(&self, label: &str, position: usize) -> Result<String, String> {
        match self.get(label, position)? {
            Sum::Text(t) => Ok(t.clone()),
            other => Err(format!("field {label}: expected text, found {other:?}")),
        }
    }

    fn amount(&self, label: &str, position: usize) -> Result<Amount, String> {
        match self.get(label, position)? {
            Sum::Numeric(n) => n.parse().map_err(|e| format!("field {label}: {e}")),
            other => Err(format!(
                "field {label}: expected a numeric, found {other:?}"
            )),
        }
    }

    fn optional_inner(&self, label: &str, position: usize) -> Result<Option<&Sum>, String> {
        match self.get(label, position)? {
            Sum::Optional(o) => Ok(o.value.as_ref().and_then(|v| v.sum.as_ref())),
            other => Err(format!(
                "field {label}: expected an optional, found {other:?}"
            )),
        }
    }

    fn optional_text(&self, label: &str, position: usize) -> Result<Option<String>, String> {
        match self.optional_inner(label, position)? {
            None => Ok(None),
            Some(Sum::Text(t)) => Ok(Some(t.clone())),
            Some(other) => Err(format!(
                "field {label}: expected optional text, found {other:?}"
            )),
        }
    }

    fn optional_time(&self, label: &str, position: usize) -> Result<Option<DateTime<Utc>>, String> {
        match self.optional_inner(label, position)? {
            None => Ok(None),
            Some(Sum::Timestamp(us)) => DateTime::from_timestamp_micros(*us)
                .map(Some)
                .ok_or_else(|| format!("field {label}: timestamp {us} out of range")),
            Some(other) => Err(format!(
                "field {label}: expected an optional time, found {other:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(contract: &Contract, verbose: bool) -> lapi::CreatedEvent {
        let mut args = contract.create_arguments("pkg");
        if !verbose {
            strip_verbose(&mut args);
        }
        lapi::CreatedEvent {
            contract_id: contract.contract_id().to_string(),
            template_id: Some(contract.template_id("pkg")),
            create_arguments: Some(args),
            ..Default::default()
        }
    }

    fn receipt() -> Contract {
        Contract::Receipt(Receipt {
            contract_id: "00ab".into(),
            treasury: "treasury::1220aa".into(),
            kind: TransferKind::Withdrawal,
            counterparty: "dest::1220bb".into(),
            account: None,
            reason: Some("wd-42".into()),
            amount: Amount::from_whole(17),
            execute_before: DateTime::from_timestamp_micros(1_700_000_000_123_456),
        })
    }

    #[test]
    fn contracts_round_trip_in_both_forms() {
        let holding = Contract::Holding(Holding {
            contract_id: "00cd".into(),
            owner: "treasury::1220aa".into(),
            instrument: INSTRUMENT.into(),
            amount: Amount::from_units(5),
        });
        for verbose in [true, false] {
            assert_eq!(decode_created(&created(&receipt(), verbose)), Ok(receipt()));
            assert_eq!(
                decode_created(&created(&holding, verbose)),
                Ok(holding.clone())
            );
        }
    }

    #[test]
    fn non_verbose_form_has_no_labels_or_type_ids() {
        let ev = created(&receipt(), false);
        let args = ev.create_arguments.expect("args");
        assert!(args.record_id.is_none());
        assert!(args.fields.iter().all(|f| f.label.is_empty()));
        assert!(args.fields.iter().any(|f| matches!(
            f.value.as_ref().and_then(|v| v.sum.as_ref()),
            Some(Sum::Enum(e)) if e.enum_id.is_none() && e.constructor == "Withdrawal"
        )));
    }

    #[test]
    fn decoding_reports_what_is_wrong() {
        let mut ev = created(&receipt(), true);
        if let Some(args) = ev.create_arguments.as_mut() {
            args.fields.retain(|f| f.label != "amount");
        }
        let err = decode_created(&ev).expect_err("missing amount");
        assert_eq!(err.contract_id, "00ab");
        assert!(err.reason.contains("amount is missing"), "{err}");
    }
}
