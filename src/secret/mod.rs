//! Secrets: where they come from, and the redactor that keeps them out of everything written.
