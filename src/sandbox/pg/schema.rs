//! The reference Canton Integration DB schema (`assets/schema/*.sql`) and applying it.

use secrecy::{ExposeSecret, SecretString};

/// One numbered migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its version; migrations apply in increasing order.
    pub version: i32,
    /// Its file name.
    pub name: &'static str,
    /// The SQL text.
    pub sql: &'static str,
}

/// All migrations, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "001_integration.sql",
        sql: include_str!("../../../assets/schema/001_integration.sql"),
    },
    Migration {
        version: 2,
        name: "002_withdrawals.sql",
        sql: include_str!("../../../assets/schema/002_withdrawals.sql"),
    },
    Migration {
        version: 3,
        name: "003_views.sql",
        sql: include_str!("../../../assets/schema/003_views.sql"),
    },
    Migration {
        version: 4,
        name: "004_ingestion_progress.sql",
        sql: include_str!("../../../assets/schema/004_ingestion_progress.sql"),
    },
];

/// The role that owns and writes the Integration DB.
pub const OWNER_ROLE: &str = "canton_integration";

/// The read-only role canton-dr's checks use.
pub const READER_ROLE: &str = "canton_dr_reader";

/// Why the schema could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema migration {name} failed: {}", super::describe_pg_error(.source))]
    Migration {
        name: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("{what}: {}", super::describe_pg_error(.source))]
    Sql {
        what: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("'{0}' is not one of the schema's roles ({OWNER_ROLE}, {READER_ROLE})")]
    UnknownRole(String),
    #[error("the password for role {0} must not be empty")]
    EmptyPassword(String),
    #[error("the computed SCRAM verifier has an unexpected form; the password was not set")]
    UnexpectedVerifier,
}

/// An arbitrary constant that serialises concurrent appliers (an advisory lock key).
const APPLY_LOCK_KEY: i64 = 0x0063_616e_746f_6e44;

/// Applies every migration not yet recorded in `integration.schema_migrations`, all in one
/// transaction, as the connected (super)user. Returns the versions applied now.
pub async fn apply_schema(client: &mut tokio_postgres::Client) -> Result<Vec<i32>, SchemaError> {
    let sql_err = |what| move |source| SchemaError::Sql { what, source };
    let tx = client
        .transaction()
        .await
        .map_err(sql_err("starting the schema transaction"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPLY_LOCK_KEY])
        .await
        .map_err(sql_err("taking the schema lock"))?;
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass('integration.schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(sql_err("reading the applied migrations"))?
        .get(0);
    let applied: Vec<i32> = if exists {
        tx.query("SELECT version FROM integration.schema_migrations", &[])
            .await
            .map_err(sql_err("reading the applied migrations"))?
            .iter()
            .map(|row| row.get(0))
            .collect()
    } else {
        Vec::new()
    };
    let mut now_applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let wrap = |source| SchemaError::Migration {
            name: m.name,
            source,
        };
        tx.batch_execute(m.sql).await.map_err(wrap)?;
        tx.batch_execute("RESET ROLE").await.map_err(wrap)?;
        tx.execute(
            "INSERT INTO integration.schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await
        .map_err(wrap)?;
        now_applied.push(m.version);
    }
    tx.commit()
        .await
        .map_err(sql_err("committing the schema transaction"))?;
    Ok(now_applied)
}

/// Sets the password of one of the schema's roles.
///
/// The SCRAM-SHA-256 verifier is computed here; only the verifier (never the password) is
/// sent to the server, so it cannot appear in a server log either.
pub async fn set_role_password(
    client: &tokio_postgres::Client,
    role: &str,
    password: &SecretString,
) -> Result<(), SchemaError> {
    if role != OWNER_ROLE && role != READER_ROLE {
        return Err(SchemaError::UnknownRole(role.to_owned()));
    }
    if password.expose_secret().is_empty() {
        return Err(SchemaError::EmptyPassword(role.to_owned()));
    }
    let verifier = postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes());
    // ALTER ROLE takes no bind parameters. The verifier is base64 and '$', ':' only (checked),
    // and the role is one of two constants, so nothing foreign reaches the statement.
    if !verifier
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=$:-".contains(c))
    {
        return Err(SchemaError::UnexpectedVerifier);
    }
    client
        .batch_execute(&format!("ALTER ROLE {role} PASSWORD '{verifier}'"))
        .await
        .map_err(|source| SchemaError::Sql {
            what: "setting a role password",
            source,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_match_their_files() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            let expected = i32::try_from(i + 1).unwrap();
            assert_eq!(m.version, expected);
            assert!(m.name.starts_with(&format!("{expected:03}_")), "{}", m.name);
            assert!(
                m.sql.contains("RESET ROLE"),
                "{} must end as the superuser",
                m.name
            );
        }
        let on_disk: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/schema"))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".sql"))
                .collect();
        assert_eq!(
            on_disk.len(),
            MIGRATIONS.len(),
            "every .sql file is a migration: {on_disk:?}"
        );
    }
}
