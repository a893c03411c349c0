//! Secrets: where they come from, and the redactor that keeps them out of everything written.
//!
//! - [`load`] reads a profile secret from an environment variable or a private file.
//! - [`SecretRegistry`] holds every secret value of the run; its [`Redactor`] replaces those
//!   values, in all their usual encodings, and secret-shaped text (authorization headers,
//!   URL passwords, key/value passwords and tokens, PEM private keys, JWTs, identity key
//!   pairs) with `<redacted:RULE>`, counting the replacements per rule.
//! - [`install_redacting_panic_hook`] keeps the same values out of panic messages.

mod forms;
mod panic_hook;
mod redact;
mod registry;
pub mod rules;
mod source;

#[cfg(test)]
mod tests;

pub(crate) use forms::literal_forms;
pub use forms::{MIN_EMBEDDED_B64, MIN_SECRET_LEN};
pub use panic_hook::install_redacting_panic_hook;
pub use redact::{LineRedactor, Redacted, Redactor, TRUNCATED_TAIL_MIN, placeholder, rule_names};
pub use registry::{Registration, SecretRegistry};
pub use source::{MAX_SECRET_FILE, SecretError, SecretSource, load};
