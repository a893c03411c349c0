//! Transcript renderers (Markdown, HTML, JSON) over a replayed journal.
