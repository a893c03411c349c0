//! Located problems in a runbook or profile: `file:line:col: step 'id': message`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found while loading or validating a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line and column; 0 when the problem has no position (e.g. unreadable file).
    pub line: usize,
    pub col: usize,
    /// The step the problem belongs to, when it belongs to one.
    pub step: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        f.write_str(": ")?;
        if let Some(step) = &self.step {
            write!(f, "step '{step}': ")?;
        }
        f.write_str(&self.message)
    }
}

/// All problems of one validation run, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Sorts by file, then position, and drops exact duplicates.
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A source text and its file name, turning byte spans into line and column.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: String) -> Source {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            path: path.into(),
            text,
            line_starts,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line + 1, col)
    }

    /// A diagnostic at a span (its start), optionally tied to a step.
    pub fn diag(
        &self,
        span: Option<Range<usize>>,
        step: Option<&str>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, col) = span.map_or((0, 0), |s| self.line_col(s.start));
        Diagnostic {
            file: self.path.clone(),
            line,
            col,
            step: step.map(str::to_owned),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let s = Source::new("a.toml", "ab\ncdé\nf".to_owned());
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(1), (1, 2));
        assert_eq!(s.line_col(3), (2, 1));
        assert_eq!(s.line_col(7), (2, 4));
        assert_eq!(s.line_col(8), (3, 1));
        assert_eq!(s.line_col(999), (3, 2));
    }

    #[test]
    fn display_format() {
        let s = Source::new("x/rb.toml", "id = 1\n".to_owned());
        let d = s.diag(Some(5..6), Some("stop"), "bad");
        assert_eq!(d.to_string(), "x/rb.toml:1:6: step 'stop': bad");
        let d = s.diag(None, None, "unreadable");
        assert_eq!(d.to_string(), "x/rb.toml: unreadable");
    }
}
