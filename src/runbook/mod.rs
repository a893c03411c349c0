//! Runbooks: the declarative format, loading, validation with located diagnostics, and
//! expressions.
