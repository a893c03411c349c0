//! From the simulation's types to Ledger API messages: timestamps, the update filter and the
//! shape of a treasury transaction as a party sees it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tonic::Status;

use super::super::synchronizer::{TreasuryTx, TxKind};
use super::super::treasury::{self, HOLDING, MODULE, PACKAGE_NAME, strip_verbose};
use crate::probe::canton::proto::com::daml::ledger::api::v2 as lapi;
use lapi::cumulative_filter::IdentifierFilter;

/// A protobuf timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_micros() as i32 * 1000,
    }
}

/// A protobuf timestamp as a time, truncated to microseconds as Canton reads it.
pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    let micros = t
        .seconds
        .checked_mul(1_000_000)?
        .checked_add(i64::from(t.nanos / 1000))?;
    DateTime::from_timestamp_micros(micros)
}

/// A protobuf duration.
pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: d.subsec_nanos() as i32,
    }
}

/// The identifier of the token-standard holding interface our `Holding` implements.
const HOLDING_INTERFACE_MODULE: &str = "Splice.Api.Token.HoldingV1";
const HOLDING_INTERFACE_PACKAGE: &str = "splice-api-token-holding-v1";

/// What a `GetUpdates` subscriber sees of treasury transactions.
#[derive(Debug, Clone)]
pub struct UpdateFilter {
    /// Transactions are delivered at all (the treasury party, or any party, is subscribed).
    transactions: bool,
    /// `None`: every template; otherwise the treasury entities that match.
    entities: Option<Vec<&'static str>>,
    verbose: bool,
    ledger_effects: bool,
}

impl UpdateFilter {
    /// Reads the request's `update_format` for the given treasury party.
    pub fn parse(
        format: Option<&lapi::UpdateFormat>,
        treasury: &str,
        package_id: &str,
    ) -> Result<UpdateFilter, Status> {
        let format = format.ok_or_else(|| {
            Status::invalid_argument(
                "MISSING_FIELD: The submitted request is missing a mandatory field: update_format",
            )
        })?;
        let Some(tx_format) = format.include_transactions.as_ref() else {
            return Ok(UpdateFilter {
                transactions: false,
                entities: Some(Vec::new()),
                verbose: false,
                ledger_effects: false,
            });
        };
        let events = tx_format.event_format.as_ref().ok_or_else(|| {
            Status::invalid_argument(
                "MISSING_FIELD: The submitted request is missing a mandatory field: event_format",
            )
        })?;
        if events.filters_by_party.is_empty() && events.filters_for_any_party.is_none() {
            return Err(Status::invalid_argument(
                "INVALID_ARGUMENT: filters_by_party and filters_for_any_party are both empty",
            ));
        }
        let mut filters: Vec<&lapi::Filters> = Vec::new();
        if let Some(f) = events.filters_by_party.get(treasury) {
            filters.push(f);
        }
        if let Some(f) = events.filters_for_any_party.as_ref() {
            filters.push(f);
        }
        let ledger_effects =
            tx_format.transaction_shape == lapi::TransactionShape::LedgerEffects as i32;
        if filters.is_empty() {
            return Ok(UpdateFilter {
                transactions: false,
                entities: Some(Vec::new()),
                verbose: events.verbose,
                ledger_effects,
            });
        }
        let mut entities: Option<Vec<&'static str>> = Some(Vec::new());
        for f in filters {
            if f.cumulative.is_empty() {
                entities = None;
            }
            for c in &f.cumulative {
                match c.identifier_filter.as_ref() {
                    None | Some(IdentifierFilter::WildcardFilter(_)) => entities = None,
                    Some(IdentifierFilter::TemplateFilter(t)) => {
                        if let Some(id) = t.template_id.as_ref()
                            && is_ours(id, package_id, PACKAGE_NAME, MODULE)
                            && let Some(list) = entities.as_mut()
                        {
                            for entity in [treasury::HOLDING, treasury::TRANSFER_RECEIPT] {
                                if id.entity_name == entity {
                                    list.push(entity);
                                }
                            }
                        }
                    }
                    Some(IdentifierFilter::InterfaceFilter(i)) => {
                        if let Some(id) = i.interface_id.as_ref()
                            && is_ours(id, "", HOLDING_INTERFACE_PACKAGE, HOLDING_INTERFACE_MODULE)
                            && id.entity_name == "Holding"
                            && let Some(list) = entities.as_mut()
                        {
                            list.push(HOLDING);
                        }
                    }
                }
            }
        }
        Ok(UpdateFilter {
            transactions: true,
            entities,
            verbose: events.verbose,
            ledger_effects,
        })
    }

    fn shows(&self, entity: &str) -> bool {
        self.transactions
            && self
                .entities
                .as_ref()
                .is_none_or(|list| list.contains(&entity))
    }
}

/// Whether an identifier names a package by id or by `#package-name` reference, in a module.
fn is_ours(id: &lapi::Identifier, package_id: &str, package_name: &str, module: &str) -> bool {
    let package_matches = (!package_id.is_empty() && id.package_id == package_id)
        || id.package_id == format!("#{package_name}");
    package_matches && id.module_name == module
}

/// Where a treasury transaction is shown.
pub struct Context<'a> {
    pub synchronizer_id: &'a str,
    pub treasury: &'a str,
    pub package_id: &'a str,
}

/// The transaction as the filter shows it, or `None` if no event of it is visible.
pub fn transaction(
    tx: &TreasuryTx,
    offset: i64,
    ctx: &Context<'_>,
    filter: &UpdateFilter,
) -> Option<lapi::Transaction> {
    let mut events = Vec::new();
    let mut node_id = 0;
    let witnesses = vec![ctx.treasury.to_string()];
    if filter.shows(HOLDING) {
        for input in &tx.inputs {
            let template_id = Some(treasury::template_id(ctx.package_id, HOLDING));
            let event = if filter.ledger_effects {
                lapi::event::Event::Exercised(lapi::ExercisedEvent {
                    offset,
                    node_id,
                    contract_id: input.clone(),
                    template_id,
                    interface_id: None,
                    choice: match tx.kind {
                        TxKind::Merge => "Holding_Merge",
                        TxKind::Withdrawal | TxKind::Deposit => "Holding_Withdraw",
                    }
                    .to_string(),
                    choice_argument: Some(lapi::Value {
                        sum: Some(lapi::value::Sum::Record(lapi::Record::default())),
                    }),
                    acting_parties: witnesses.clone(),
                    consuming: true,
                    witness_parties: witnesses.clone(),
                    last_descendant_node_id: node_id,
                    exercise_result: Some(lapi::Value {
                        sum: Some(lapi::value::Sum::Unit(())),
                    }),
                    package_name: PACKAGE_NAME.to_string(),
                    acs_delta: true,
                })
            } else {
                lapi::event::Event::Archived(lapi::ArchivedEvent {
                    offset,
                    node_id,
                    contract_id: input.clone(),
                    template_id,
                    witness_parties: witnesses.clone(),
                    package_name: PACKAGE_NAME.to_string(),
                })
            };
            events.push(lapi::Event { event: Some(event) });
            node_id += 1;
        }
    }
    for contract in &tx.created {
        if !filter.shows(contract.entity()) {
            continue;
        }
        let mut args = contract.create_arguments(ctx.package_id);
        if !filter.verbose {
            strip_verbose(&mut args);
        }
        events.push(lapi::Event {
            event: Some(lapi::event::Event::Created(lapi::CreatedEvent {
                offset,
                node_id,
                contract_id: contract.contract_id().to_string(),
                template_id: Some(contract.template_id(ctx.package_id)),
                create_arguments: Some(args),
                witness_parties: witnesses.clone(),
                signatories: contract.signatories(),
                observers: contract.observers(),
                created_at: Some(timestamp(tx.record_time)),
                package_name: PACKAGE_NAME.to_string(),
                acs_delta: true,
            })),
        });
        node_id += 1;
    }
    if events.is_empty() {
        return None;
    }
    Some(lapi::Transaction {
        update_id: tx.update_id.clone(),
        command_id: tx.command_id.clone(),
        workflow_id: String::new(),
        effective_at: Some(timestamp(tx.record_time)),
        events,
        offset,
        synchronizer_id: ctx.synchronizer_id.to_string(),
        record_time: Some(timestamp(tx.record_time)),
    })
}

/// An offset checkpoint for one synchronizer.
pub fn checkpoint(
    offset: i64,
    synchronizer_id: &str,
    record_time: DateTime<Utc>,
) -> lapi::OffsetCheckpoint {
    lapi::OffsetCheckpoint {
        offset,
        synchronizer_times: vec![lapi::SynchronizerTime {
            synchronizer_id: synchronizer_id.to_string(),
            record_time: Some(timestamp(record_time)),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn format(
        by_party: Vec<(&str, lapi::Filters)>,
        shape: lapi::TransactionShape,
    ) -> lapi::UpdateFormat {
        lapi::UpdateFormat {
            include_transactions: Some(lapi::TransactionFormat {
                event_format: Some(lapi::EventFormat {
                    filters_by_party: by_party
                        .into_iter()
                        .map(|(p, f)| (p.to_string(), f))
                        .collect::<HashMap<_, _>>(),
                    filters_for_any_party: None,
                    verbose: true,
                }),
                transaction_shape: shape as i32,
            }),
            include_reassignments: None,
        }
    }

    fn template(package: &str, entity: &str) -> lapi::Filters {
        lapi::Filters {
            cumulative: vec![lapi::CumulativeFilter {
                identifier_filter: Some(IdentifierFilter::TemplateFilter(lapi::TemplateFilter {
                    template_id: Some(lapi::Identifier {
                        package_id: package.into(),
                        module_name: MODULE.into(),
                        entity_name: entity.into(),
                    }),
                    include_created_event_blob: false,
                })),
            }],
        }
    }

    fn withdrawal() -> TreasuryTx {
        use super::super::super::amount::Amount;
        use super::super::super::treasury::{Contract, Holding, Receipt, TransferKind};
        TreasuryTx {
            update_id: "1220aa".into(),
            record_time: DateTime::from_timestamp_micros(1_764_226_200_000_001).unwrap_or_default(),
            kind: TxKind::Withdrawal,
            command_id: "withdrawal-wd-1-0".into(),
            withdrawal_id: Some("wd-1".into()),
            inputs: vec!["00in".into()],
            created: vec![
                Contract::Holding(Holding {
                    contract_id: "00change".into(),
                    owner: "t".into(),
                    instrument: "Amulet".into(),
                    amount: Amount::from_whole(1),
                }),
                Contract::Receipt(Receipt {
                    contract_id: "00receipt".into(),
                    treasury: "t".into(),
                    kind: TransferKind::Withdrawal,
                    counterparty: "d".into(),
                    account: None,
                    reason: Some("wd-1".into()),
                    amount: Amount::from_whole(2),
                    execute_before: None,
                }),
            ],
            amount: Amount::from_whole(2),
        }
    }

    #[test]
    fn transaction_shapes_and_template_filters_select_events() {
        let ctx = Context {
            synchronizer_id: "sync",
            treasury: "t",
            package_id: "p",
        };
        let kinds = |tx: &lapi::Transaction| -> Vec<&'static str> {
            tx.events
                .iter()
                .map(|e| match &e.event {
                    Some(lapi::event::Event::Created(_)) => "created",
                    Some(lapi::event::Event::Archived(_)) => "archived",
                    Some(lapi::event::Event::Exercised(x)) if x.consuming => "consumed",
                    _ => "other",
                })
                .collect()
        };
        let delta = UpdateFilter::parse(
            Some(&format(
                vec![("t", lapi::Filters::default())],
                lapi::TransactionShape::AcsDelta,
            )),
            "t",
            "p",
        )
        .expect("filter");
        let tx = transaction(&withdrawal(), 7, &ctx, &delta).expect("visible");
        assert_eq!(kinds(&tx), vec!["archived", "created", "created"]);
        assert_eq!(tx.offset, 7);
        assert_eq!(tx.command_id, "withdrawal-wd-1-0");
        let node_ids: Vec<i32> = tx
            .events
            .iter()
            .filter_map(|e| match &e.event {
                Some(lapi::event::Event::Created(c)) => Some(c.node_id),
                Some(lapi::event::Event::Archived(a)) => Some(a.node_id),
                _ => None,
            })
            .collect();
        assert_eq!(node_ids, vec![0, 1, 2]);

        let effects = UpdateFilter::parse(
            Some(&format(
                vec![("t", lapi::Filters::default())],
                lapi::TransactionShape::LedgerEffects,
            )),
            "t",
            "p",
        )
        .expect("filter");
        let tx = transaction(&withdrawal(), 7, &ctx, &effects).expect("visible");
        assert_eq!(kinds(&tx), vec!["consumed", "created", "created"]);

        let receipts_only = UpdateFilter::parse(
            Some(&format(
                vec![("t", template("p", "TransferReceipt"))],
                lapi::TransactionShape::AcsDelta,
            )),
            "t",
            "p",
        )
        .expect("filter");
        let tx = transaction(&withdrawal(), 7, &ctx, &receipts_only).expect("visible");
        assert_eq!(kinds(&tx), vec!["created"]);

        let other_party = UpdateFilter::parse(
            Some(&format(
                vec![("x", lapi::Filters::default())],
                lapi::TransactionShape::AcsDelta,
            )),
            "t",
            "p",
        )
        .expect("filter");
        assert!(transaction(&withdrawal(), 7, &ctx, &other_party).is_none());
    }

    #[test]
    fn timestamps_round_trip_at_microsecond_precision() {
        let t = DateTime::from_timestamp_micros(1_764_226_200_123_456).unwrap_or_default();
        assert_eq!(from_timestamp(&timestamp(t)), Some(t));
        let nanos = prost_types::Timestamp {
            seconds: 10,
            nanos: 1_999,
        };
        assert_eq!(
            from_timestamp(&nanos).map(|t| t.timestamp_micros()),
            Some(10_000_001)
        );
        let bad = prost_types::Timestamp {
            seconds: 10,
            nanos: -1,
        };
        assert_eq!(from_timestamp(&bad), None);
    }

    #[test]
    fn filter_requires_update_format_and_follows_parties_and_templates() {
        assert_eq!(
            UpdateFilter::parse(None, "t", "p")
                .map(|_| ())
                .map_err(|s| s.code()),
            Err(tonic::Code::InvalidArgument)
        );
        let wildcard = UpdateFilter::parse(
            Some(&format(
                vec![("t", lapi::Filters::default())],
                lapi::TransactionShape::AcsDelta,
            )),
            "t",
            "p",
        )
        .expect("filter");
        assert!(wildcard.shows(HOLDING) && wildcard.shows(treasury::TRANSFER_RECEIPT));
        let other_party = UpdateFilter::parse(
            Some(&format(
                vec![("someone", lapi::Filters::default())],
                lapi::TransactionShape::AcsDelta,
            )),
            "t",
            "p",
        )
        .expect("filter");
        assert!(!other_party.shows(HOLDING));
        let receipts = UpdateFilter::parse(
            Some(&format(
                vec![("t", template("#exchange-treasury", "TransferReceipt"))],
                lapi::TransactionShape::AcsDelta,
            )),
            "t",
            "p",
        )
        .expect("filter");
        assert!(receipts.shows(treasury::TRANSFER_RECEIPT) && !receipts.shows(HOLDING));
        let by_id = UpdateFilter::parse(
            Some(&format(
                vec![("t", template("p", "Holding"))],
                lapi::TransactionShape::AcsDelta,
            )),
            "t",
            "p",
        )
        .expect("filter");
        assert!(by_id.shows(HOLDING) && !by_id.shows(treasury::TRANSFER_RECEIPT));
    }
}
