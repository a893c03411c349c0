//! Runbooks: the declarative format, loading, validation with located diagnostics, and
//! expressions.

pub mod catalog;
pub mod diagnostic;
pub mod expr;
pub mod load;
pub mod model;
pub mod raw;
pub mod steps;
pub mod template;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::{load, load_embedded};
pub use model::{Runbook, Step, StepKind};
