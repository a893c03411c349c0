//! Reusable pieces the views draw with.

pub mod glyph;
pub mod popup;
pub mod text_field;
