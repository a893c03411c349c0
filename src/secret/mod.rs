//! Secrets: where they come from, and the redactor that keeps them out of everything written.

pub mod source;
pub use source::{SecretError, SecretSource, load};
