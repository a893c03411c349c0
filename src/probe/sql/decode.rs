//! Result rows to typed [`Value`]s, keeping full precision (microseconds, every numeric digit).

use std::collections::BTreeMap;
use std::error::Error;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};

use crate::value::{Value, ValueType};

/// The value type a column of PostgreSQL type `ty` is read as, if it can be read.
pub fn column_type(ty: &Type) -> Option<ValueType> {
    Some(match *ty {
        Type::BOOL => ValueType::Bool,
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => ValueType::Integer,
        Type::NUMERIC | Type::FLOAT4 | Type::FLOAT8 => ValueType::Decimal,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => ValueType::Text,
        Type::JSON | Type::JSONB => ValueType::Text,
        Type::TIMESTAMPTZ | Type::TIMESTAMP => ValueType::Timestamp,
        Type::INTERVAL => ValueType::Duration,
        _ => return None,
    })
}

/// `numeric` as exact decimal text.
struct Numeric(String);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        super::numeric::decode(raw).map(Numeric).map_err(Into::into)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// `interval` as an exact span.
struct Interval(TimeDelta);

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        super::interval::decode(raw)
            .map(Interval)
            .map_err(Into::into)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// Reads column `index` of `row` (of type `ty`) as a value.
pub fn cell(row: &Row, index: usize, ty: &Type) -> Result<Value, String> {
    fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<Option<T>, String> {
        row.try_get::<_, Option<T>>(index)
            .map_err(|e| match e.source() {
                Some(cause) => cause.to_string(),
                None => e.to_string(),
            })
    }
    let value = match *ty {
        Type::BOOL => get::<bool>(row, index)?.map(Value::Bool),
        Type::INT2 => get::<i16>(row, index)?.map(|v| Value::Integer(i64::from(v))),
        Type::INT4 => get::<i32>(row, index)?.map(|v| Value::Integer(i64::from(v))),
        Type::INT8 => get::<i64>(row, index)?.map(Value::Integer),
        Type::OID => get::<u32>(row, index)?.map(|v| Value::Integer(i64::from(v))),
        Type::NUMERIC => get::<Numeric>(row, index)?.map(|n| Value::Decimal(n.0)),
        Type::FLOAT4 => get::<f32>(row, index)?.map(|f| Value::Decimal(f.to_string())),
        Type::FLOAT8 => get::<f64>(row, index)?.map(|f| Value::Decimal(f.to_string())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            get::<String>(row, index)?.map(Value::Text)
        }
        Type::JSON | Type::JSONB => {
            get::<serde_json::Value>(row, index)?.map(|j| Value::Text(j.to_string()))
        }
        Type::TIMESTAMPTZ => get::<DateTime<Utc>>(row, index)?.map(Value::Timestamp),
        Type::TIMESTAMP => get::<NaiveDateTime>(row, index)?.map(|t| Value::Timestamp(t.and_utc())),
        Type::INTERVAL => get::<Interval>(row, index)?.map(|i| Value::Duration(i.0)),
        _ => return Err(format!("type {} cannot be read", ty.name())),
    };
    Ok(value.unwrap_or(Value::Null))
}

/// Converts every row into a map from column name to value.
pub fn rows(
    columns: &[(String, Type, ValueType)],
    rows: &[Row],
) -> Result<Vec<BTreeMap<String, Value>>, (String, String)> {
    rows.iter()
        .map(|row| {
            columns
                .iter()
                .enumerate()
                .map(|(i, (name, ty, _))| {
                    cell(row, i, ty)
                        .map(|v| (name.clone(), v))
                        .map_err(|e| (name.clone(), e))
                })
                .collect()
        })
        .collect()
}
