//! Updates from `UpdateService.GetUpdates` as plain Rust values (no prost types), with
//! conversions both ways: from the wire for the probes and the simulated ingestion, and to the
//! wire for the sandbox's simulated participant. Timestamps keep their full precision.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::convert::{chrono_to_timestamp, timestamp_to_chrono};
use super::proto::com::daml::ledger::api::v2 as pb;

/// One element of the update stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    /// A committed transaction.
    Transaction(TransactionUpdate),
    /// Everything up to `offset` has been delivered; how far each synchronizer has advanced.
    Checkpoint(Checkpoint),
    /// A contract reassignment between synchronizers (header only).
    Reassignment(UpdateHeader),
    /// A topology transaction (header only).
    Topology(UpdateHeader),
}

impl Update {
    /// The participant-local offset of this update.
    pub fn offset(&self) -> i64 {
        match self {
            Update::Transaction(t) => t.offset,
            Update::Checkpoint(c) => c.offset,
            Update::Reassignment(h) | Update::Topology(h) => h.offset,
        }
    }
}

/// Where and when an update happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateHeader {
    /// The update id (the same on every participant).
    pub update_id: String,
    /// The participant-local offset.
    pub offset: i64,
    /// The synchronizer that sequenced it.
    pub synchronizer_id: String,
    /// The synchronizer's record time.
    pub record_time: DateTime<Utc>,
}

/// A committed transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransactionUpdate {
    /// The update id (the same on every participant).
    pub update_id: String,
    /// The submitter's command id (only visible to the submitting user).
    pub command_id: String,
    /// The workflow id, if set.
    pub workflow_id: String,
    /// The ledger effective time.
    pub effective_at: Option<DateTime<Utc>>,
    /// The participant-local offset.
    pub offset: i64,
    /// The synchronizer that sequenced it.
    pub synchronizer_id: String,
    /// The synchronizer's record time.
    pub record_time: DateTime<Utc>,
    /// The events visible to the requested parties.
    pub events: Vec<LedgerEvent>,
}

/// An offset checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// The offset up to which everything has been delivered.
    pub offset: i64,
    /// The record time reached on each synchronizer.
    pub synchronizer_times: Vec<SynchronizerTime>,
}

/// The record time reached on one synchronizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SynchronizerTime {
    /// The synchronizer.
    pub synchronizer_id: String,
    /// Its record time.
    pub record_time: DateTime<Utc>,
}

/// A Daml type or template name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TemplateId {
    /// The package id (or `#package-name`).
    pub package_id: String,
    /// The dotted module name.
    pub module_name: String,
    /// The dotted entity name.
    pub entity_name: String,
}

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.package_id, self.module_name, self.entity_name
        )
    }
}

/// One event of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LedgerEvent {
    /// A contract was created.
    Created(CreatedEvent),
    /// A contract was archived.
    Archived(ArchivedEvent),
    /// A choice was exercised.
    Exercised(ExercisedEvent),
}

/// A contract was created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreatedEvent {
    /// Offset of origin.
    pub offset: i64,
    /// Position in the transaction.
    pub node_id: i32,
    /// The new contract.
    pub contract_id: String,
    /// Its template.
    pub template_id: TemplateId,
    /// The template's package name.
    pub package_name: String,
    /// The create arguments.
    pub arguments: DamlRecord,
    /// Signatories.
    pub signatories: Vec<String>,
    /// Observers.
    pub observers: Vec<String>,
    /// Requested parties that see the event.
    pub witness_parties: Vec<String>,
    /// Ledger effective time of the creating transaction.
    pub created_at: Option<DateTime<Utc>>,
}

/// A contract was archived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchivedEvent {
    /// Offset of origin.
    pub offset: i64,
    /// Position in the transaction.
    pub node_id: i32,
    /// The archived contract.
    pub contract_id: String,
    /// Its template.
    pub template_id: TemplateId,
    /// The template's package name.
    pub package_name: String,
    /// Requested parties that see the event.
    pub witness_parties: Vec<String>,
}

/// A choice was exercised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExercisedEvent {
    /// Offset of origin.
    pub offset: i64,
    /// Position in the transaction.
    pub node_id: i32,
    /// The target contract.
    pub contract_id: String,
    /// The template defining the choice.
    pub template_id: TemplateId,
    /// The interface defining the choice, if inherited.
    pub interface_id: Option<TemplateId>,
    /// The choice.
    pub choice: String,
    /// Its argument.
    pub choice_argument: Option<DamlValue>,
    /// Who exercised it.
    pub acting_parties: Vec<String>,
    /// Whether the contract is archived by it.
    pub consuming: bool,
    /// Requested parties that see the event.
    pub witness_parties: Vec<String>,
    /// Upper bound of the node ids of the events it caused.
    pub last_descendant_node_id: i32,
    /// Its result.
    pub exercise_result: Option<DamlValue>,
    /// The template's package name.
    pub package_name: String,
}

/// A Daml record: labelled fields (labels are present in verbose streams).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DamlRecord {
    /// The record type, in verbose streams.
    pub record_id: Option<TemplateId>,
    /// The fields in declaration order.
    pub fields: Vec<(String, DamlValue)>,
}

impl DamlRecord {
    /// The value of the field with this label.
    pub fn get(&self, label: &str) -> Option<&DamlValue> {
        self.fields.iter().find(|(l, _)| l == label).map(|(_, v)| v)
    }
}

/// A Daml value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum DamlValue {
    /// `()`.
    Unit,
    /// `Bool`.
    Bool(bool),
    /// `Int`.
    Int64(i64),
    /// `Date`, as days since the Unix epoch.
    Date(i32),
    /// `Time`, microsecond precision.
    Timestamp(DateTime<Utc>),
    /// `Numeric n`, as its decimal text.
    Numeric(String),
    /// `Party`.
    Party(String),
    /// `Text`.
    Text(String),
    /// `ContractId a`.
    ContractId(String),
    /// `Optional a`.
    Optional(Option<Box<DamlValue>>),
    /// `[a]`.
    List(Vec<DamlValue>),
    /// `TextMap a`.
    TextMap(Vec<(String, DamlValue)>),
    /// `Map k v`.
    GenMap(Vec<(DamlValue, DamlValue)>),
    /// A record.
    Record(DamlRecord),
    /// A variant constructor with its value.
    Variant {
        /// The constructor.
        constructor: String,
        /// Its value.
        value: Box<DamlValue>,
    },
    /// An enum constructor.
    Enum(String),
}

impl DamlValue {
    /// The text of `Text`, `Party`, `Numeric` and `ContractId` values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            DamlValue::Text(s)
            | DamlValue::Party(s)
            | DamlValue::Numeric(s)
            | DamlValue::ContractId(s) => Some(s),
            _ => None,
        }
    }
}

fn template_id(id: Option<pb::Identifier>, what: &str) -> Result<TemplateId, String> {
    id.map(TemplateId::from)
        .ok_or_else(|| format!("{what} has no template_id"))
}

impl From<pb::Identifier> for TemplateId {
    fn from(id: pb::Identifier) -> Self {
        TemplateId {
            package_id: id.package_id,
            module_name: id.module_name,
            entity_name: id.entity_name,
        }
    }
}

impl From<TemplateId> for pb::Identifier {
    fn from(id: TemplateId) -> Self {
        pb::Identifier {
            package_id: id.package_id,
            module_name: id.module_name,
            entity_name: id.entity_name,
        }
    }
}

fn required_time(ts: Option<prost_types::Timestamp>, what: &str) -> Result<DateTime<Utc>, String> {
    let ts = ts.ok_or_else(|| format!("{what} is missing"))?;
    timestamp_to_chrono(&ts).ok_or_else(|| format!("{what} is out of range"))
}

fn optional_time(
    ts: Option<prost_types::Timestamp>,
    what: &str,
) -> Result<Option<DateTime<Utc>>, String> {
    ts.map(|t| timestamp_to_chrono(&t).ok_or_else(|| format!("{what} is out of range")))
        .transpose()
}

impl TryFrom<pb::Value> for DamlValue {
    type Error = String;

    fn try_from(value: pb::Value) -> Result<Self, String> {
        use pb::value::Sum;
        let sum = value.sum.ok_or("a value has no content")?;
        Ok(match sum {
            Sum::Unit(()) => DamlValue::Unit,
            Sum::Bool(b) => DamlValue::Bool(b),
            Sum::Int64(i) => DamlValue::Int64(i),
            Sum::Date(d) => DamlValue::Date(d),
            Sum::Timestamp(micros) => DamlValue::Timestamp(
                DateTime::from_timestamp_micros(micros)
                    .ok_or_else(|| format!("timestamp value {micros} is out of range"))?,
            ),
            Sum::Numeric(s) => DamlValue::Numeric(s),
            Sum::Party(s) => DamlValue::Party(s),
            Sum::Text(s) => DamlValue::Text(s),
            Sum::ContractId(s) => DamlValue::ContractId(s),
            Sum::Optional(o) => DamlValue::Optional(match o.value {
                None => None,
                Some(v) => Some(Box::new(DamlValue::try_from(*v)?)),
            }),
            Sum::List(l) => DamlValue::List(
                l.elements
                    .into_iter()
                    .map(DamlValue::try_from)
                    .collect::<Result<_, _>>()?,
            ),
            Sum::TextMap(m) => DamlValue::TextMap(
                m.entries
                    .into_iter()
                    .map(|e| {
                        let v = e.value.ok_or("a text map entry has no value")?;
                        Ok::<_, String>((e.key, DamlValue::try_from(v)?))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Sum::GenMap(m) => DamlValue::GenMap(
                m.entries
                    .into_iter()
                    .map(|e| {
                        let k = e.key.ok_or("a map entry has no key")?;
                        let v = e.value.ok_or("a map entry has no value")?;
                        Ok::<_, String>((DamlValue::try_from(k)?, DamlValue::try_from(v)?))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Sum::Record(r) => DamlValue::Record(DamlRecord::try_from(r)?),
            Sum::Variant(v) => DamlValue::Variant {
                constructor: v.constructor,
                value: Box::new(DamlValue::try_from(
                    v.value.map(|b| *b).ok_or("a variant has no value")?,
                )?),
            },
            Sum::Enum(e) => DamlValue::Enum(e.constructor),
        })
    }
}

impl From<DamlValue> for pb::Value {
    fn from(value: DamlValue) -> Self {
        use pb::value::Sum;
        let sum = match value {
            DamlValue::Unit => Sum::Unit(()),
            DamlValue::Bool(b) => Sum::Bool(b),
            DamlValue::Int64(i) => Sum::Int64(i),
            DamlValue::Date(d) => Sum::Date(d),
            DamlValue::Timestamp(t) => Sum::Timestamp(t.timestamp_micros()),
            DamlValue::Numeric(s) => Sum::Numeric(s),
            DamlValue::Party(s) => Sum::Party(s),
            DamlValue::Text(s) => Sum::Text(s),
            DamlValue::ContractId(s) => Sum::ContractId(s),
            DamlValue::Optional(o) => Sum::Optional(Box::new(pb::Optional {
                value: o.map(|v| Box::new(pb::Value::from(*v))),
            })),
            DamlValue::List(l) => Sum::List(pb::List {
                elements: l.into_iter().map(pb::Value::from).collect(),
            }),
            DamlValue::TextMap(m) => Sum::TextMap(pb::TextMap {
                entries: m
                    .into_iter()
                    .map(|(key, v)| pb::text_map::Entry {
                        key,
                        value: Some(v.into()),
                    })
                    .collect(),
            }),
            DamlValue::GenMap(m) => Sum::GenMap(pb::GenMap {
                entries: m
                    .into_iter()
                    .map(|(k, v)| pb::gen_map::Entry {
                        key: Some(k.into()),
                        value: Some(v.into()),
                    })
                    .collect(),
            }),
            DamlValue::Record(r) => Sum::Record(r.into()),
            DamlValue::Variant { constructor, value } => Sum::Variant(Box::new(pb::Variant {
                variant_id: None,
                constructor,
                value: Some(Box::new((*value).into())),
            })),
            DamlValue::Enum(constructor) => Sum::Enum(pb::Enum {
                enum_id: None,
                constructor,
            }),
        };
        pb::Value { sum: Some(sum) }
    }
}

impl TryFrom<pb::Record> for DamlRecord {
    type Error = String;

    fn try_from(record: pb::Record) -> Result<Self, String> {
        Ok(DamlRecord {
            record_id: record.record_id.map(TemplateId::from),
            fields: record
                .fields
                .into_iter()
                .map(|f| {
                    let v = f
                        .value
                        .ok_or_else(|| format!("record field {:?} has no value", f.label))?;
                    Ok::<_, String>((f.label, DamlValue::try_from(v)?))
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<DamlRecord> for pb::Record {
    fn from(record: DamlRecord) -> Self {
        pb::Record {
            record_id: record.record_id.map(pb::Identifier::from),
            fields: record
                .fields
                .into_iter()
                .map(|(label, v)| pb::RecordField {
                    label,
                    value: Some(v.into()),
                })
                .collect(),
        }
    }
}

impl TryFrom<pb::Event> for LedgerEvent {
    type Error = String;

    fn try_from(event: pb::Event) -> Result<Self, String> {
        use pb::event::Event as E;
        Ok(match event.event.ok_or("an event has no content")? {
            E::Created(c) => LedgerEvent::Created(CreatedEvent {
                offset: c.offset,
                node_id: c.node_id,
                template_id: template_id(c.template_id, "a created event")?,
                arguments: DamlRecord::try_from(c.create_arguments.unwrap_or_default())?,
                created_at: optional_time(c.created_at, "created_at")?,
                contract_id: c.contract_id,
                package_name: c.package_name,
                signatories: c.signatories,
                observers: c.observers,
                witness_parties: c.witness_parties,
            }),
            E::Archived(a) => LedgerEvent::Archived(ArchivedEvent {
                offset: a.offset,
                node_id: a.node_id,
                template_id: template_id(a.template_id, "an archived event")?,
                contract_id: a.contract_id,
                package_name: a.package_name,
                witness_parties: a.witness_parties,
            }),
            E::Exercised(x) => LedgerEvent::Exercised(ExercisedEvent {
                offset: x.offset,
                node_id: x.node_id,
                template_id: template_id(x.template_id, "an exercised event")?,
                interface_id: x.interface_id.map(TemplateId::from),
                choice_argument: x.choice_argument.map(DamlValue::try_from).transpose()?,
                exercise_result: x.exercise_result.map(DamlValue::try_from).transpose()?,
                contract_id: x.contract_id,
                choice: x.choice,
                acting_parties: x.acting_parties,
                consuming: x.consuming,
                witness_parties: x.witness_parties,
                last_descendant_node_id: x.last_descendant_node_id,
                package_name: x.package_name,
            }),
        })
    }
}

impl From<LedgerEvent> for pb::Event {
    fn from(event: LedgerEvent) -> Self {
        use pb::event::Event as E;
        let inner = match event {
            LedgerEvent::Created(c) => E::Created(pb::CreatedEvent {
                offset: c.offset,
                node_id: c.node_id,
                contract_id: c.contract_id,
                template_id: Some(c.template_id.into()),
                create_arguments: Some(c.arguments.into()),
                witness_parties: c.witness_parties,
                signatories: c.signatories,
                observers: c.observers,
                created_at: c.created_at.map(chrono_to_timestamp),
                package_name: c.package_name,
                acs_delta: true,
            }),
            LedgerEvent::Archived(a) => E::Archived(pb::ArchivedEvent {
                offset: a.offset,
                node_id: a.node_id,
                contract_id: a.contract_id,
                template_id: Some(a.template_id.into()),
                witness_parties: a.witness_parties,
                package_name: a.package_name,
            }),
            LedgerEvent::Exercised(x) => E::Exercised(pb::ExercisedEvent {
                offset: x.offset,
                node_id: x.node_id,
                contract_id: x.contract_id,
                template_id: Some(x.template_id.into()),
                interface_id: x.interface_id.map(Into::into),
                choice: x.choice,
                choice_argument: x.choice_argument.map(Into::into),
                acting_parties: x.acting_parties,
                consuming: x.consuming,
                witness_parties: x.witness_parties,
                last_descendant_node_id: x.last_descendant_node_id,
                exercise_result: x.exercise_result.map(Into::into),
                package_name: x.package_name,
                acs_delta: x.consuming,
            }),
        };
        pb::Event { event: Some(inner) }
    }
}

impl TryFrom<pb::GetUpdatesResponse> for Update {
    type Error = String;

    fn try_from(response: pb::GetUpdatesResponse) -> Result<Self, String> {
        use pb::get_updates_response::Update as U;
        Ok(match response.update.ok_or("an update has no content")? {
            U::Transaction(t) => {
                let what = format!("transaction {} at offset {}", t.update_id, t.offset);
                Update::Transaction(TransactionUpdate {
                    record_time: required_time(t.record_time, &format!("{what}: record_time"))?,
                    effective_at: optional_time(t.effective_at, &format!("{what}: effective_at"))?,
                    events: t
                        .events
                        .into_iter()
                        .map(LedgerEvent::try_from)
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("{what}: {e}"))?,
                    update_id: t.update_id,
                    command_id: t.command_id,
                    workflow_id: t.workflow_id,
                    offset: t.offset,
                    synchronizer_id: t.synchronizer_id,
                })
            }
            U::OffsetCheckpoint(c) => {
                let offset = c.offset;
                Update::Checkpoint(Checkpoint {
                    offset,
                    synchronizer_times: c
                        .synchronizer_times
                        .into_iter()
                        .map(|s| {
                            Ok::<_, String>(SynchronizerTime {
                                record_time: required_time(
                                    s.record_time,
                                    &format!("checkpoint at offset {offset}: record_time"),
                                )?,
                                synchronizer_id: s.synchronizer_id,
                            })
                        })
                        .collect::<Result<_, _>>()?,
                })
            }
            U::Reassignment(r) => Update::Reassignment(UpdateHeader {
                record_time: required_time(
                    r.record_time,
                    &format!("reassignment at offset {}: record_time", r.offset),
                )?,
                update_id: r.update_id,
                offset: r.offset,
                synchronizer_id: r.synchronizer_id,
            }),
            U::TopologyTransaction(t) => Update::Topology(UpdateHeader {
                record_time: required_time(
                    t.record_time,
                    &format!("topology transaction at offset {}: record_time", t.offset),
                )?,
                update_id: t.update_id,
                offset: t.offset,
                synchronizer_id: t.synchronizer_id,
            }),
        })
    }
}

impl From<Update> for pb::GetUpdatesResponse {
    fn from(update: Update) -> Self {
        use pb::get_updates_response::Update as U;
        let inner = match update {
            Update::Transaction(t) => U::Transaction(pb::Transaction {
                update_id: t.update_id,
                command_id: t.command_id,
                workflow_id: t.workflow_id,
                effective_at: t.effective_at.map(chrono_to_timestamp),
                events: t.events.into_iter().map(Into::into).collect(),
                offset: t.offset,
                synchronizer_id: t.synchronizer_id,
                record_time: Some(chrono_to_timestamp(t.record_time)),
            }),
            Update::Checkpoint(c) => U::OffsetCheckpoint(pb::OffsetCheckpoint {
                offset: c.offset,
                synchronizer_times: c
                    .synchronizer_times
                    .into_iter()
                    .map(|s| pb::SynchronizerTime {
                        synchronizer_id: s.synchronizer_id,
                        record_time: Some(chrono_to_timestamp(s.record_time)),
                    })
                    .collect(),
            }),
            Update::Reassignment(h) => U::Reassignment(pb::Reassignment {
                update_id: h.update_id,
                command_id: String::new(),
                workflow_id: String::new(),
                offset: h.offset,
                record_time: Some(chrono_to_timestamp(h.record_time)),
                synchronizer_id: h.synchronizer_id,
            }),
            Update::Topology(h) => U::TopologyTransaction(pb::TopologyTransaction {
                update_id: h.update_id,
                offset: h.offset,
                synchronizer_id: h.synchronizer_id,
                record_time: Some(chrono_to_timestamp(h.record_time)),
            }),
        };
        pb::GetUpdatesResponse {
            update: Some(inner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn treasury_transfer() -> Update {
        Update::Transaction(TransactionUpdate {
            update_id: "1220abcd".into(),
            command_id: String::new(),
            workflow_id: "wf".into(),
            effective_at: Some(t("2026-03-01T10:00:00.000001Z")),
            offset: 42,
            synchronizer_id: "global-domain::1220aa".into(),
            record_time: t("2026-03-01T10:00:00.123456Z"),
            events: vec![
                LedgerEvent::Created(CreatedEvent {
                    offset: 42,
                    node_id: 0,
                    contract_id: "00cid".into(),
                    template_id: TemplateId {
                        package_id: "pkg".into(),
                        module_name: "Splice.Amulet".into(),
                        entity_name: "Amulet".into(),
                    },
                    package_name: "splice-amulet".into(),
                    arguments: DamlRecord {
                        record_id: None,
                        fields: vec![
                            ("owner".into(), DamlValue::Party("treasury::1220".into())),
                            ("amount".into(), DamlValue::Numeric("100.5000000000".into())),
                            ("reason".into(), DamlValue::Text("wid123".into())),
                            (
                                "lock".into(),
                                DamlValue::Optional(Some(Box::new(DamlValue::Int64(-7)))),
                            ),
                            (
                                "at".into(),
                                DamlValue::Timestamp(t("2026-03-01T10:00:00.654321Z")),
                            ),
                            (
                                "inputs".into(),
                                DamlValue::List(vec![DamlValue::ContractId("00a".into())]),
                            ),
                        ],
                    },
                    signatories: vec!["dso".into()],
                    observers: vec![],
                    witness_parties: vec!["treasury::1220".into()],
                    created_at: Some(t("2026-03-01T10:00:00.000001Z")),
                }),
                LedgerEvent::Archived(ArchivedEvent {
                    offset: 42,
                    node_id: 1,
                    contract_id: "00old".into(),
                    template_id: TemplateId {
                        package_id: "pkg".into(),
                        module_name: "Splice.Amulet".into(),
                        entity_name: "Amulet".into(),
                    },
                    package_name: "splice-amulet".into(),
                    witness_parties: vec!["treasury::1220".into()],
                }),
            ],
        })
    }

    #[test]
    fn updates_round_trip_through_the_wire() {
        let update = treasury_transfer();
        let bytes = pb::GetUpdatesResponse::from(update.clone()).encode_to_vec();
        let decoded = pb::GetUpdatesResponse::decode(bytes.as_slice()).expect("decode");
        assert_eq!(Update::try_from(decoded), Ok(update));
    }

    #[test]
    fn value_encodings_use_the_public_field_numbers() {
        // int64 is sint64 (zigzag) in field 3: -1 encodes as tag 0x18, value 0x01.
        let v = pb::Value::from(DamlValue::Int64(-1)).encode_to_vec();
        assert_eq!(v, vec![0x18, 0x01]);
        // timestamp is sfixed64 in field 5: tag 0x29 then 8 little-endian bytes.
        let v =
            pb::Value::from(DamlValue::Timestamp(t("1970-01-01T00:00:00.000001Z"))).encode_to_vec();
        assert_eq!(v, vec![0x29, 1, 0, 0, 0, 0, 0, 0, 0]);
        // text is field 8, party field 7, numeric field 6, record field 14.
        assert_eq!(
            pb::Value::from(DamlValue::Text("a".into())).encode_to_vec(),
            vec![0x42, 1, b'a']
        );
        assert_eq!(
            pb::Value::from(DamlValue::Party("a".into())).encode_to_vec(),
            vec![0x3a, 1, b'a']
        );
        assert_eq!(
            pb::Value::from(DamlValue::Numeric("1".into())).encode_to_vec(),
            vec![0x32, 1, b'1']
        );
        let rec = pb::Value::from(DamlValue::Record(DamlRecord {
            record_id: None,
            fields: vec![],
        }))
        .encode_to_vec();
        assert_eq!(rec, vec![0x72, 0]);
    }

    #[test]
    fn transaction_header_fields_use_the_public_field_numbers() {
        let tx = pb::Transaction {
            offset: 1,
            synchronizer_id: "s".into(),
            ..Default::default()
        };
        // offset = field 6 (varint), synchronizer_id = field 7 (LEN).
        assert_eq!(tx.encode_to_vec(), vec![0x30, 1, 0x3a, 1, b's']);
        let response = pb::GetUpdatesResponse {
            update: Some(pb::get_updates_response::Update::OffsetCheckpoint(
                pb::OffsetCheckpoint {
                    offset: 5,
                    synchronizer_times: vec![],
                },
            )),
        };
        // offset_checkpoint = field 3 of the response oneof.
        assert_eq!(response.encode_to_vec(), vec![0x1a, 2, 0x08, 5]);
    }

    #[test]
    fn a_transaction_without_record_time_is_refused() {
        let response = pb::GetUpdatesResponse {
            update: Some(pb::get_updates_response::Update::Transaction(
                pb::Transaction {
                    update_id: "u1".into(),
                    offset: 9,
                    ..Default::default()
                },
            )),
        };
        let err = Update::try_from(response).expect_err("must fail");
        assert!(err.contains("u1") && err.contains("offset 9") && err.contains("record_time"));
    }
}
