//! `${name}` references in runbook strings.
//!
//! A string is either a literal, a whole reference (`"${off_recovery}"`, which passes the typed
//! value itself), or text with references spliced in (`"${dar_dir}/extra"`). Splicing is allowed
//! only where the result is shown to a person or names a file; never in SQL, argv or shell script
//! text (the validator enforces this). `$${` writes a literal `${`.

use std::collections::BTreeMap;
use std::fmt;

use crate::value::Value;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Var(String),
}

/// A parsed string with references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// A malformed reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A reference that cannot be rendered at run time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("variable '{0}' has no value yet")]
    Missing(String),
    #[error("variable '{0}' is a secret and cannot be shown")]
    Secret(String),
}

/// Is `name` a valid variable name (`[a-z_][a-z0-9_]*`)?
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

impl Template {
    /// Parses `s`.
    pub fn parse(s: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(pos) = rest.find('$') {
            lit.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(tail) = after.strip_prefix("$${") {
                lit.push_str("${");
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("${") {
                let end = tail
                    .find('}')
                    .ok_or_else(|| TemplateError(format!("unclosed '${{' in \"{s}\"")))?;
                let name = tail[..end].trim();
                if !is_var_name(name) {
                    return Err(TemplateError(format!(
                        "'${{{name}}}' is not a variable reference (names are lowercase letters, digits and _)"
                    )));
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Var(name.to_owned()));
                rest = &tail[end + 1..];
            } else {
                lit.push('$');
                rest = &after[1..];
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template { pieces })
    }

    /// A template holding only literal text.
    pub fn literal(s: &str) -> Template {
        Template {
            pieces: if s.is_empty() {
                Vec::new()
            } else {
                vec![Piece::Lit(s.to_owned())]
            },
        }
    }

    /// The variable when the whole string is exactly one reference.
    pub fn whole_var(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [Piece::Var(v)] => Some(v),
            _ => None,
        }
    }

    /// The literal text when there are no references.
    pub fn as_literal(&self) -> Option<String> {
        match self.pieces.as_slice() {
            [] => Some(String::new()),
            [Piece::Lit(l)] => Some(l.clone()),
            _ => None,
        }
    }

    /// Every referenced variable, in order of appearance.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(v.as_str()),
            Piece::Lit(_) => None,
        })
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Renders with the variables' display form. Secrets are refused.
    pub fn render(&self, vars: &BTreeMap<String, Value>) -> Result<String, RenderError> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => out.push_str(l),
                Piece::Var(v) => match vars.get(v) {
                    None | Some(Value::Null) => return Err(RenderError::Missing(v.clone())),
                    Some(Value::Secret(_)) => return Err(RenderError::Secret(v.clone())),
                    Some(value) => out.push_str(&value.to_string()),
                },
            }
        }
        Ok(out)
    }

    /// Renders what can be rendered, leaving `${name}` for values not known yet (for showing a
    /// step before it runs).
    pub fn render_partial(&self, vars: &BTreeMap<String, Value>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => out.push_str(l),
                Piece::Var(v) => match vars.get(v) {
                    Some(Value::Null) | None => out.push_str(&format!("${{{v}}}")),
                    Some(value) => out.push_str(&value.to_string()),
                },
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => f.write_str(&l.replace("${", "$${"))?,
                Piece::Var(v) => write!(f, "${{{v}}}")?,
            }
        }
        Ok(())
    }
}

/// Finds shell-style `${NAME}` and `$NAME` uses in script text (for the interpolation rule).
pub fn shell_refs(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = script.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let rest = &script[i + 1..];
            let name: String = if let Some(inner) = rest.strip_prefix('{') {
                inner
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            } else {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            };
            if !name.is_empty() {
                out.push(name);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pieces() {
        let t = Template::parse("a ${x} b ${y_2}").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), vec!["x", "y_2"]);
        assert_eq!(t.whole_var(), None);
        assert_eq!(Template::parse("${off}").unwrap().whole_var(), Some("off"));
        assert_eq!(
            Template::parse("cost $5").unwrap().as_literal().unwrap(),
            "cost $5"
        );
        assert_eq!(
            Template::parse("$${HOME}").unwrap().as_literal().unwrap(),
            "${HOME}"
        );
    }

    #[test]
    fn rejects_malformed() {
        assert!(Template::parse("${x").is_err());
        assert!(Template::parse("${X}").is_err());
        assert!(Template::parse("${a b}").is_err());
    }

    #[test]
    fn renders_and_refuses_secrets() {
        let mut vars = BTreeMap::new();
        vars.insert("x".into(), Value::Offset(7));
        vars.insert("s".into(), Value::Secret("pw".to_owned().into()));
        let t = Template::parse("at ${x}").unwrap();
        assert_eq!(t.render(&vars).unwrap(), "at 7");
        assert_eq!(
            Template::parse("${s}").unwrap().render(&vars),
            Err(RenderError::Secret("s".into()))
        );
        assert_eq!(
            Template::parse("${m}").unwrap().render(&vars),
            Err(RenderError::Missing("m".into()))
        );
        assert_eq!(
            Template::parse("${m} ${x}").unwrap().render_partial(&vars),
            "${m} 7"
        );
    }

    #[test]
    fn finds_shell_refs() {
        assert_eq!(
            shell_refs("echo \"$OFFSET\" ${t_recovery} $1 $"),
            vec!["OFFSET", "t_recovery", "1"]
        );
    }
}
