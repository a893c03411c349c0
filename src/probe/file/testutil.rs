//! Helpers shared by the file probe tests.

use std::collections::BTreeMap;

use crate::probe::{Observed, ProbeRequest};
use crate::runbook::catalog::ProbeKind;
use crate::runbook::expr::Ty;
use crate::runbook::model::ProbeCall;
use crate::value::Value;

/// A request for probe `kind` with text arguments.
pub(crate) fn request(kind: &str, args: &[(&str, &str)]) -> ProbeRequest {
    let kind = ProbeKind::find(kind).expect("a catalog probe kind");
    ProbeRequest {
        call: ProbeCall {
            kind,
            args: BTreeMap::new(),
            result_ty: Ty::Dyn,
        },
        args: args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::Text((*v).to_owned())))
            .collect(),
        step: "test-step".into(),
    }
}

/// Asserts that `observed.value` has exactly the catalog's fields for `kind`, each of the
/// catalog's type or null.
pub(crate) fn assert_catalog_shape(kind: &str, observed: &Observed) {
    let spec = ProbeKind::find(kind).expect("a catalog probe kind");
    let Value::Map(fields) = &observed.value else {
        panic!("{kind}: the value is not a map: {:?}", observed.value);
    };
    let expected: BTreeMap<&str, Ty> = spec.fixed_outputs().into_iter().collect();
    let got: Vec<&str> = fields.keys().map(String::as_str).collect();
    let want: Vec<&str> = expected.keys().copied().collect();
    assert_eq!(got, want, "{kind}: field names");
    for (name, ty) in expected {
        let v = &fields[name];
        let ok = matches!(
            (&ty, v),
            (_, Value::Null)
                | (Ty::Bool, Value::Bool(_))
                | (Ty::Int, Value::Integer(_))
                | (Ty::String, Value::Text(_))
                | (Ty::Timestamp, Value::Timestamp(_))
                | (Ty::Duration, Value::Duration(_))
        );
        assert!(ok, "{kind}: field {name} should be {ty:?}, is {v:?}");
    }
}

/// A field of an observed record.
pub(crate) fn field<'a>(observed: &'a Observed, name: &str) -> &'a Value {
    observed
        .value
        .field(name)
        .unwrap_or_else(|| panic!("no field {name} in {:?}", observed.value))
}

pub(crate) fn text(observed: &Observed, name: &str) -> Option<String> {
    match field(observed, name) {
        Value::Null => None,
        Value::Text(t) => Some(t.clone()),
        other => panic!("{name} is not text: {other:?}"),
    }
}

pub(crate) fn flag(observed: &Observed, name: &str) -> bool {
    match field(observed, name) {
        Value::Bool(b) => *b,
        other => panic!("{name} is not a bool: {other:?}"),
    }
}

pub(crate) fn int(observed: &Observed, name: &str) -> Option<i64> {
    match field(observed, name) {
        Value::Null => None,
        Value::Integer(i) => Some(*i),
        other => panic!("{name} is not an integer: {other:?}"),
    }
}

pub(crate) fn timestamp(observed: &Observed, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    match field(observed, name) {
        Value::Null => None,
        Value::Timestamp(t) => Some(*t),
        other => panic!("{name} is not a timestamp: {other:?}"),
    }
}
