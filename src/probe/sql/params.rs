//! Bind parameters: typed [`Value`]s encoded for the parameter types the server inferred.
//!
//! Values are encoded in PostgreSQL's binary form and sent as bind parameters, never spliced
//! into the statement text.

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::value::Value;

/// A parameter already encoded for its type (`None` is SQL NULL).
#[derive(Debug)]
pub struct Encoded(Option<Vec<u8>>);

impl ToSql for Encoded {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(bytes) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    /// The type was checked when the value was encoded for it.
    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Encodes `value` for a parameter of type `ty`; the error says what did not fit.
pub fn encode(value: &Value, ty: &Type) -> Result<Encoded, String> {
    let mismatch = || {
        format!(
            "a {} cannot be bound where the query expects {}",
            value.value_type().map_or("null", |t| t.name()),
            ty.name()
        )
    };
    let mut out = BytesMut::new();
    let typed = |v: &dyn ToSql, out: &mut BytesMut| -> Result<(), String> {
        v.to_sql_checked(ty, out)
            .map(|_| ())
            .map_err(|e| format!("encoding for {}: {e}", ty.name()))
    };
    match value {
        Value::Null => return Ok(Encoded(None)),
        Value::Secret(_) => {
            return Err(
                "a secret is never sent as a query parameter (it could end up in a server log)"
                    .into(),
            );
        }
        Value::List(_) | Value::Map(_) => {
            return Err(format!(
                "a {} cannot be a query parameter",
                value.value_type().map_or("null", |t| t.name())
            ));
        }
        Value::Bool(b) => match *ty {
            Type::BOOL => typed(b, &mut out)?,
            _ if is_text(ty) => typed(&value.to_string(), &mut out)?,
            _ => return Err(mismatch()),
        },
        Value::Integer(i) | Value::Offset(i) => match *ty {
            Type::INT8 => typed(i, &mut out)?,
            Type::INT4 => {
                let narrow = i32::try_from(*i).map_err(|_| format!("{i} does not fit in int4"))?;
                typed(&narrow, &mut out)?;
            }
            Type::INT2 => {
                let narrow = i16::try_from(*i).map_err(|_| format!("{i} does not fit in int2"))?;
                typed(&narrow, &mut out)?;
            }
            Type::NUMERIC => out.extend_from_slice(&super::numeric::encode(&i.to_string())?),
            _ if is_text(ty) => typed(&i.to_string(), &mut out)?,
            _ => return Err(mismatch()),
        },
        Value::Decimal(d) => match *ty {
            Type::NUMERIC => out.extend_from_slice(&super::numeric::encode(d)?),
            Type::FLOAT8 => {
                let f: f64 = d
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{d}' is not a number"))?;
                typed(&f, &mut out)?;
            }
            _ if is_text(ty) => typed(d, &mut out)?,
            _ => return Err(mismatch()),
        },
        Value::Text(t) => match *ty {
            _ if is_text(ty) => typed(t, &mut out)?,
            _ => return Err(mismatch()),
        },
        Value::Timestamp(t) => match *ty {
            Type::TIMESTAMPTZ => typed(t, &mut out)?,
            Type::TIMESTAMP => typed(&t.naive_utc(), &mut out)?,
            _ if is_text(ty) => typed(&value.to_string(), &mut out)?,
            _ => return Err(mismatch()),
        },
        Value::Duration(d) => match *ty {
            Type::INTERVAL => out.extend_from_slice(&super::interval::encode(*d)?),
            _ if is_text(ty) => typed(&value.to_string(), &mut out)?,
            _ => return Err(mismatch()),
        },
    }
    Ok(Encoded(Some(out.to_vec())))
}

/// Types a text parameter may be bound to.
fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn secrets_are_refused_without_revealing_them() {
        let err = encode(&Value::Secret(SecretString::from("hunter2")), &Type::TEXT).unwrap_err();
        assert!(err.contains("never sent"), "{err}");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn mismatches_name_both_types() {
        let err = encode(&Value::Bool(true), &Type::TIMESTAMPTZ).unwrap_err();
        assert_eq!(
            err,
            "a bool cannot be bound where the query expects timestamptz"
        );
        let err = encode(&Value::Integer(70_000), &Type::INT2).unwrap_err();
        assert!(err.contains("int2"), "{err}");
    }

    #[test]
    fn null_is_null_for_any_type() {
        assert!(
            encode(&Value::Null, &Type::TIMESTAMPTZ)
                .unwrap()
                .0
                .is_none()
        );
    }
}
