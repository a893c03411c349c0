//! Expectations and derived values as CEL expressions, type-checked before a run.
//!
//! An expression sees three names: `value` (what the step's probe observed, or the operator's
//! input), `vars` (the variables captured so far, by name) and `now` (the current UTC time).
//! CEL has no static checker in the `cel` crate, so [`check`] walks the parsed tree with the
//! declared types of `value` and `vars` and rejects what would fail or mislead at run time:
//! unknown names, comparing a timestamp with an offset, a non-boolean expectation, a secret used
//! in an expression.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use cel::common::ast::{CallExpr, Expr as Node, IdedExpr, LiteralValue, operators};
use chrono::{DateTime, Utc};

use crate::value::{Value, ValueType};

/// A static type, richer than CEL's where canton-dr needs it (an offset is an int that stays an
/// offset when captured; a record has known fields).
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// Unknown until run time (untyped JSON, for example).
    Dyn,
    Null,
    Bool,
    Int,
    Offset,
    UInt,
    Double,
    String,
    Bytes,
    Timestamp,
    Duration,
    /// A secret: may not appear in any expression.
    Secret,
    List(Box<Ty>),
    /// A map with string keys and values of one type.
    Map(Box<Ty>),
    /// A map with known fields.
    Record(Arc<BTreeMap<String, Ty>>),
}

impl Ty {
    /// The static type of a declared value type.
    pub fn of(t: ValueType) -> Ty {
        match t {
            ValueType::Timestamp => Ty::Timestamp,
            ValueType::Offset => Ty::Offset,
            ValueType::Duration => Ty::Duration,
            ValueType::Integer => Ty::Int,
            ValueType::Decimal => Ty::Double,
            ValueType::Text => Ty::String,
            ValueType::Bool => Ty::Bool,
            ValueType::Secret => Ty::Secret,
            ValueType::List => Ty::List(Box::new(Ty::Dyn)),
            ValueType::Map => Ty::Map(Box::new(Ty::Dyn)),
        }
    }

    /// The declared value type a captured value of this static type gets.
    pub fn value_type(&self) -> Option<ValueType> {
        Some(match self {
            Ty::Timestamp => ValueType::Timestamp,
            Ty::Offset => ValueType::Offset,
            Ty::Duration => ValueType::Duration,
            Ty::Int | Ty::UInt => ValueType::Integer,
            Ty::Double => ValueType::Decimal,
            Ty::String => ValueType::Text,
            Ty::Bool => ValueType::Bool,
            Ty::Secret => ValueType::Secret,
            Ty::List(_) => ValueType::List,
            Ty::Map(_) | Ty::Record(_) => ValueType::Map,
            Ty::Dyn | Ty::Null | Ty::Bytes => return None,
        })
    }

    /// A record type from named field types.
    pub fn record<I: IntoIterator<Item = (String, Ty)>>(fields: I) -> Ty {
        Ty::Record(Arc::new(fields.into_iter().collect()))
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Offset | Ty::UInt | Ty::Double)
    }

    fn is_intlike(&self) -> bool {
        matches!(self, Ty::Int | Ty::Offset)
    }

    fn is_dyn(&self) -> bool {
        matches!(self, Ty::Dyn)
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Dyn => f.write_str("dyn"),
            Ty::Null => f.write_str("null"),
            Ty::Bool => f.write_str("bool"),
            Ty::Int => f.write_str("integer"),
            Ty::Offset => f.write_str("offset"),
            Ty::UInt => f.write_str("uint"),
            Ty::Double => f.write_str("decimal"),
            Ty::String => f.write_str("text"),
            Ty::Bytes => f.write_str("bytes"),
            Ty::Timestamp => f.write_str("timestamp"),
            Ty::Duration => f.write_str("duration"),
            Ty::Secret => f.write_str("secret"),
            Ty::List(t) => write!(f, "list of {t}"),
            Ty::Map(t) => write!(f, "map of {t}"),
            Ty::Record(_) => f.write_str("record"),
        }
    }
}

/// "a timestamp", "an offset": a type with its indefinite article, for messages.
pub fn article(t: &impl fmt::Display) -> String {
    let name = t.to_string();
    match name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {name}"),
        _ => format!("a {name}"),
    }
}

/// What an expression may refer to, with types.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The type of `value`; `None` when the expression has no subject (a `when` condition).
    pub value: Option<Ty>,
    /// Variables defined before this point.
    pub vars: BTreeMap<String, Ty>,
    /// Variables defined later in the runbook, by the step that defines them (for a better
    /// message when one is used too early).
    pub later: BTreeMap<String, String>,
}

/// A compiled, type-checked expression.
#[derive(Clone)]
pub struct Expr {
    source: String,
    program: Arc<cel::Program>,
    ty: Ty,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?}: {})", self.source, self.ty)
    }
}

impl Expr {
    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Its static type.
    pub fn ty(&self) -> &Ty {
        &self.ty
    }

    /// The variables (`vars.NAME`) it reads.
    pub fn var_refs(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_var_refs(self.program.expression(), &mut out);
        out.sort();
        out.dedup();
        out
    }
}

fn collect_var_refs(e: &IdedExpr, out: &mut Vec<String>) {
    match &e.expr {
        Node::Select(s) => {
            if let Node::Ident(root) = &s.operand.expr
                && root == "vars"
            {
                out.push(s.field.clone());
            }
            collect_var_refs(&s.operand, out);
        }
        Node::Call(c) => {
            if let Some(t) = &c.target {
                collect_var_refs(t, out);
            }
            c.args.iter().for_each(|a| collect_var_refs(a, out));
        }
        Node::List(l) => l.elements.iter().for_each(|a| collect_var_refs(a, out)),
        Node::Comprehension(c) => {
            for part in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                collect_var_refs(part, out);
            }
        }
        Node::Map(m) => {
            for entry in &m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                    collect_var_refs(&me.key, out);
                    collect_var_refs(&me.value, out);
                }
            }
        }
        _ => {}
    }
}

/// Why an expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        message: message.into(),
    })
}

/// Parses and type-checks `source` in `scope`; `want` is the required result type, if any.
pub fn check(source: &str, scope: &Scope, want: Option<&Ty>) -> Result<Expr, ExprError> {
    if source.trim().is_empty() {
        return err("the expression is empty");
    }
    if source.len() > 4096 {
        return err("the expression is longer than 4096 characters");
    }
    let program = cel::Program::compile(source).map_err(|e| ExprError {
        message: format!(
            "invalid expression '{source}': {}",
            syntax_message(&e.to_string())
        ),
    })?;
    let mut checker = Checker {
        scope,
        locals: Vec::new(),
    };
    let ty = checker.infer(program.expression())?;
    if let Some(want) = want
        && !assignable(&ty, want)
    {
        return err(format!(
            "'{source}' is {}, but {} is needed here",
            article(&ty),
            article(want)
        ));
    }
    Ok(Expr {
        source: source.to_owned(),
        program: Arc::new(program),
        ty,
    })
}

/// Shortens the parser's message: "syntax error at column 15: the expression ends too early".
fn syntax_message(s: &str) -> String {
    let line = s
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("ERROR: <input>:");
    let (pos, rest) = line.split_once(": ").unwrap_or(("", line));
    let col = pos
        .split(':')
        .nth(1)
        .map(|c| format!(" at column {c}"))
        .unwrap_or_default();
    let rest = rest.trim_start_matches("Syntax error: ");
    let what = if rest.contains("'<EOF>'") {
        "the expression ends too early".to_owned()
    } else if let Some((head, _)) = rest.split_once(" expecting") {
        head.to_owned()
    } else {
        rest.to_owned()
    };
    format!("syntax error{col}: {what}")
}

fn assignable(have: &Ty, want: &Ty) -> bool {
    have == want
        || have.is_dyn()
        || want.is_dyn()
        || (have.is_intlike() && want.is_intlike())
        || matches!((have, want), (Ty::List(_), Ty::List(_)))
}

struct Checker<'a> {
    scope: &'a Scope,
    locals: Vec<(String, Ty)>,
}

impl Checker<'_> {
    fn infer(&mut self, e: &IdedExpr) -> Result<Ty, ExprError> {
        match &e.expr {
            Node::Unspecified => err("incomplete expression"),
            Node::Literal(l) => Ok(match l {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Bytes(_) => Ty::Bytes,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::Null => Ty::Null,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::UInt(_) => Ty::UInt,
            }),
            Node::Ident(name) => self.ident(name),
            Node::Select(s) => {
                if let Node::Ident(root) = &s.operand.expr
                    && root == "vars"
                    && !self.is_local("vars")
                {
                    return self.var(&s.field, s.test);
                }
                let operand = self.infer(&s.operand)?;
                if s.test {
                    return Ok(Ty::Bool);
                }
                self.field(&operand, &s.field, &s.operand)
            }
            Node::List(l) => {
                let mut elem = None::<Ty>;
                for item in &l.elements {
                    let t = self.infer(item)?;
                    elem = Some(match elem {
                        None => t,
                        Some(prev) => unify(&prev, &t).unwrap_or(Ty::Dyn),
                    });
                }
                Ok(Ty::List(Box::new(elem.unwrap_or(Ty::Dyn))))
            }
            Node::Map(m) => {
                let mut val = None::<Ty>;
                for entry in &m.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                        self.infer(&me.key)?;
                        let t = self.infer(&me.value)?;
                        val = Some(match val {
                            None => t,
                            Some(prev) => unify(&prev, &t).unwrap_or(Ty::Dyn),
                        });
                    }
                }
                Ok(Ty::Map(Box::new(val.unwrap_or(Ty::Dyn))))
            }
            Node::Struct(s) => err(format!(
                "message types such as '{}' are not available",
                s.type_name
            )),
            Node::Comprehension(c) => {
                let range = self.infer(&c.iter_range)?;
                let elem = match &range {
                    Ty::List(t) => (**t).clone(),
                    Ty::Map(_) | Ty::Record(_) => Ty::String,
                    Ty::Dyn => Ty::Dyn,
                    other => return err(format!("cannot iterate over {}", article(other))),
                };
                let accu = self.infer(&c.accu_init)?;
                let depth = self.locals.len();
                self.locals.push((c.iter_var.clone(), elem));
                if let Some(v2) = &c.iter_var2 {
                    self.locals.push((v2.clone(), Ty::Dyn));
                }
                self.locals.push((c.accu_var.clone(), accu.clone()));
                let result = (|| {
                    let cond = self.infer(&c.loop_cond)?;
                    if !assignable(&cond, &Ty::Bool) {
                        return err(format!(
                            "a loop condition must be a bool, not {}",
                            article(&cond)
                        ));
                    }
                    let step = self.infer(&c.loop_step)?;
                    let merged = unify(&accu, &step).unwrap_or(Ty::Dyn);
                    if let Some(slot) = self.locals.iter_mut().rev().find(|(n, _)| n == &c.accu_var)
                    {
                        slot.1 = merged;
                    }
                    self.infer(&c.result)
                })();
                self.locals.truncate(depth);
                result
            }
            Node::Call(call) => self.call(call),
        }
    }

    fn is_local(&self, name: &str) -> bool {
        self.locals.iter().any(|(n, _)| n == name)
    }

    fn ident(&self, name: &str) -> Result<Ty, ExprError> {
        if let Some((_, t)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return Ok(t.clone());
        }
        match name {
            "now" => Ok(Ty::Timestamp),
            "value" => match &self.scope.value {
                Some(Ty::Secret) => err("a secret input cannot be used in an expression"),
                Some(t) => Ok(t.clone()),
                None => err("'value' is not available here: this expression has no probe or input"),
            },
            "vars" => Ok(Ty::Record(Arc::new(self.scope.vars.clone()))),
            "null" => Ok(Ty::Null),
            _ => {
                let hint =
                    if self.scope.vars.contains_key(name) || self.scope.later.contains_key(name) {
                        format!("; write vars.{name}")
                    } else {
                        String::new()
                    };
                err(format!(
                    "unknown name '{name}' (expressions see value, vars and now{hint})"
                ))
            }
        }
    }

    fn var(&self, name: &str, test: bool) -> Result<Ty, ExprError> {
        match self.scope.vars.get(name) {
            Some(Ty::Secret) => err(format!(
                "variable '{name}' is a secret and cannot be used in an expression"
            )),
            Some(t) => Ok(if test { Ty::Bool } else { t.clone() }),
            None => match self.scope.later.get(name) {
                Some(step) => err(format!(
                    "variable '{name}' is used before step '{step}' captures it"
                )),
                None => err(format!("variable '{name}' is not defined")),
            },
        }
    }

    fn field(&self, operand: &Ty, field: &str, node: &IdedExpr) -> Result<Ty, ExprError> {
        match operand {
            Ty::Record(fields) => match fields.get(field) {
                Some(Ty::Secret) => err(format!(
                    "field '{field}' is a secret and cannot be used in an expression"
                )),
                Some(t) => Ok(t.clone()),
                None => {
                    let what = match &node.expr {
                        Node::Ident(n) if n == "value" => "the probe result".to_owned(),
                        _ => "this record".to_owned(),
                    };
                    let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                    err(format!(
                        "{what} has no field '{field}' (it has: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ))
                }
            },
            Ty::Map(v) => Ok((**v).clone()),
            Ty::Dyn => Ok(Ty::Dyn),
            other => err(format!("{} has no field '{field}'", article(other))),
        }
    }

    fn call(&mut self, call: &CallExpr) -> Result<Ty, ExprError> {
        let name = call.func_name.as_str();
        let target = match &call.target {
            Some(t) => Some(self.infer(t)?),
            None => None,
        };
        let mut args = Vec::with_capacity(call.args.len());
        for a in &call.args {
            args.push(self.infer(a)?);
        }
        let arity = |n: usize| -> Result<(), ExprError> {
            if args.len() == n {
                Ok(())
            } else {
                err(format!(
                    "{} takes {n} argument(s), got {}",
                    display_op(name),
                    args.len()
                ))
            }
        };
        match name {
            operators::LOGICAL_AND | operators::LOGICAL_OR => {
                arity(2)?;
                for a in &args {
                    if !assignable(a, &Ty::Bool) {
                        return err(format!(
                            "{} needs bools, not {}",
                            display_op(name),
                            article(a)
                        ));
                    }
                }
                Ok(Ty::Bool)
            }
            operators::LOGICAL_NOT | operators::NOT_STRICTLY_FALSE => {
                arity(1)?;
                if !assignable(&args[0], &Ty::Bool) {
                    return err(format!("'!' needs a bool, not {}", article(&args[0])));
                }
                Ok(Ty::Bool)
            }
            operators::NEGATE => {
                arity(1)?;
                match &args[0] {
                    t @ (Ty::Int | Ty::Double | Ty::Duration | Ty::Dyn) => Ok(t.clone()),
                    Ty::Offset => Ok(Ty::Int),
                    t => err(format!("cannot negate {}", article(t))),
                }
            }
            operators::EQUALS | operators::NOT_EQUALS => {
                arity(2)?;
                if comparable_eq(&args[0], &args[1]) {
                    Ok(Ty::Bool)
                } else {
                    err(format!(
                        "cannot compare {} with {}",
                        article(&args[0]),
                        article(&args[1])
                    ))
                }
            }
            operators::LESS
            | operators::LESS_EQUALS
            | operators::GREATER
            | operators::GREATER_EQUALS => {
                arity(2)?;
                if ordered(&args[0], &args[1]) {
                    Ok(Ty::Bool)
                } else {
                    err(format!(
                        "cannot order {} against {}",
                        article(&args[0]),
                        article(&args[1])
                    ))
                }
            }
            operators::ADD => {
                arity(2)?;
                add_type(&args[0], &args[1])
            }
            operators::SUBSTRACT => {
                arity(2)?;
                sub_type(&args[0], &args[1])
            }
            operators::MULTIPLY | operators::DIVIDE | operators::MODULO => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (a, b) if a.is_intlike() && b.is_intlike() => Ok(Ty::Int),
                    (Ty::Double, Ty::Double) | (Ty::UInt, Ty::UInt) => Ok(args[0].clone()),
                    (Ty::Dyn, t) | (t, Ty::Dyn) if t.is_numeric() || t.is_dyn() => Ok(t.clone()),
                    (a, b) => err(format!(
                        "cannot apply {} to {} and {}",
                        display_op(name),
                        article(a),
                        article(b)
                    )),
                }
            }
            operators::CONDITIONAL => {
                arity(3)?;
                if !assignable(&args[0], &Ty::Bool) {
                    return err(format!(
                        "a condition must be a bool, not {}",
                        article(&args[0])
                    ));
                }
                unify(&args[1], &args[2]).ok_or_else(|| ExprError {
                    message: format!(
                        "the two branches of '?:' have different types ({} and {})",
                        args[1], args[2]
                    ),
                })
            }
            operators::INDEX | operators::OPT_INDEX => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (Ty::List(t), i) if i.is_intlike() || matches!(i, Ty::UInt | Ty::Dyn) => {
                        Ok((**t).clone())
                    }
                    (Ty::Map(t), Ty::String | Ty::Dyn) => Ok((**t).clone()),
                    (Ty::Record(_), Ty::String | Ty::Dyn) | (Ty::Dyn, _) => Ok(Ty::Dyn),
                    (a, b) => err(format!("cannot index {} with {}", article(a), article(b))),
                }
            }
            operators::IN => {
                arity(2)?;
                match &args[1] {
                    Ty::List(_) | Ty::Map(_) | Ty::Record(_) | Ty::Dyn => Ok(Ty::Bool),
                    t => err(format!(
                        "'in' needs a list or map on the right, not {}",
                        article(&t)
                    )),
                }
            }
            "size" => {
                let subject = target.as_ref().or(args.first());
                match subject {
                    Some(
                        Ty::String | Ty::Bytes | Ty::List(_) | Ty::Map(_) | Ty::Record(_) | Ty::Dyn,
                    ) => Ok(Ty::Int),
                    Some(t) => err(format!(
                        "size() needs a string, list or map, not {}",
                        article(&t)
                    )),
                    None => err("size() needs an argument"),
                }
            }
            "duration" | "timestamp" => {
                arity(1)?;
                if let Some(lit) = string_literal(call.args.first()) {
                    let parsed = if name == "duration" {
                        crate::value::parse_duration(&lit).map(|_| ())
                    } else {
                        crate::value::parse_timestamp(&lit).map(|_| ())
                    };
                    if let Err(e) = parsed {
                        return err(format!("{name}('{lit}') is not valid: {e}"));
                    }
                }
                match (&args[0], name) {
                    (Ty::String | Ty::Dyn, "duration") => Ok(Ty::Duration),
                    (Ty::String | Ty::Dyn | Ty::Int, "timestamp") => Ok(Ty::Timestamp),
                    (Ty::Duration, "duration") => Ok(Ty::Duration),
                    (Ty::Timestamp, "timestamp") => Ok(Ty::Timestamp),
                    (t, _) => err(format!("{name}() needs a string, not {}", article(&t))),
                }
            }
            "int" => Ok(Ty::Int),
            "uint" => Ok(Ty::UInt),
            "double" => Ok(Ty::Double),
            "string" => Ok(Ty::String),
            "bool" => Ok(Ty::Bool),
            "dyn" => Ok(Ty::Dyn),
            "contains" | "startsWith" | "endsWith" | "matches" => match target {
                Some(Ty::String | Ty::Dyn) => Ok(Ty::Bool),
                Some(t) => err(format!(
                    "{name}() applies to strings, not to {}",
                    article(&t)
                )),
                None => err(format!("{name}() is called on a string: write s.{name}(…)")),
            },
            "max" | "min" => {
                let mut t = None::<Ty>;
                for a in &args {
                    t = Some(match t {
                        None => a.clone(),
                        Some(prev) => unify(&prev, a).unwrap_or(Ty::Dyn),
                    });
                }
                Ok(match t {
                    Some(Ty::List(e)) => *e,
                    Some(other) => other,
                    None => Ty::Dyn,
                })
            }
            "getFullYear" | "getMonth" | "getDayOfYear" | "getDayOfMonth" | "getDate"
            | "getDayOfWeek" | "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds" => {
                match target {
                    Some(Ty::Timestamp | Ty::Duration | Ty::Dyn) => Ok(Ty::Int),
                    Some(t) => err(format!(
                        "{name}() applies to timestamps and durations, not to {}",
                        article(&t)
                    )),
                    None => err(format!(
                        "{name}() is called on a timestamp: write t.{name}()"
                    )),
                }
            }
            other => err(format!("unknown function '{other}'")),
        }
    }
}

fn string_literal(e: Option<&IdedExpr>) -> Option<String> {
    match e.map(|e| &e.expr) {
        Some(Node::Literal(LiteralValue::String(s))) => Some(s.inner().to_string()),
        _ => None,
    }
}

fn display_op(name: &str) -> String {
    let op = match name {
        operators::LOGICAL_AND => "&&",
        operators::LOGICAL_OR => "||",
        operators::ADD => "+",
        operators::SUBSTRACT => "-",
        operators::MULTIPLY => "*",
        operators::DIVIDE => "/",
        operators::MODULO => "%",
        other => other,
    };
    format!("'{op}'")
}

fn unify(a: &Ty, b: &Ty) -> Option<Ty> {
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (Ty::Null, t) | (t, Ty::Null) => Some(t.clone()),
        (Ty::Dyn, _) | (_, Ty::Dyn) => Some(Ty::Dyn),
        (x, y) if x.is_intlike() && y.is_intlike() => Some(Ty::Int),
        (Ty::List(x), Ty::List(y)) => Some(Ty::List(Box::new(unify(x, y).unwrap_or(Ty::Dyn)))),
        (Ty::Map(x), Ty::Map(y)) => Some(Ty::Map(Box::new(unify(x, y).unwrap_or(Ty::Dyn)))),
        (Ty::Record(_), Ty::Map(_))
        | (Ty::Map(_), Ty::Record(_))
        | (Ty::Record(_), Ty::Record(_)) => Some(Ty::Map(Box::new(Ty::Dyn))),
        _ => None,
    }
}

fn comparable_eq(a: &Ty, b: &Ty) -> bool {
    matches!(a, Ty::Null | Ty::Dyn)
        || matches!(b, Ty::Null | Ty::Dyn)
        || (a.is_numeric() && b.is_numeric())
        || unify(a, b).is_some()
}

fn ordered(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (Ty::Dyn, t) | (t, Ty::Dyn) => {
            !matches!(t, Ty::List(_) | Ty::Map(_) | Ty::Record(_) | Ty::Null)
        }
        (x, y) if x.is_numeric() && y.is_numeric() => true,
        (Ty::String, Ty::String)
        | (Ty::Bytes, Ty::Bytes)
        | (Ty::Bool, Ty::Bool)
        | (Ty::Timestamp, Ty::Timestamp)
        | (Ty::Duration, Ty::Duration) => true,
        _ => false,
    }
}

fn add_type(a: &Ty, b: &Ty) -> Result<Ty, ExprError> {
    Ok(match (a, b) {
        (Ty::Offset, Ty::Int) | (Ty::Int, Ty::Offset) => Ty::Offset,
        (x, y) if x.is_intlike() && y.is_intlike() => Ty::Int,
        (Ty::Double, Ty::Double) => Ty::Double,
        (Ty::UInt, Ty::UInt) => Ty::UInt,
        (Ty::String, Ty::String) => Ty::String,
        (Ty::Bytes, Ty::Bytes) => Ty::Bytes,
        (Ty::List(x), Ty::List(y)) => Ty::List(Box::new(unify(x, y).unwrap_or(Ty::Dyn))),
        (Ty::Timestamp, Ty::Duration) | (Ty::Duration, Ty::Timestamp) => Ty::Timestamp,
        (Ty::Duration, Ty::Duration) => Ty::Duration,
        (Ty::Dyn, t) | (t, Ty::Dyn) => match t {
            Ty::Timestamp | Ty::Duration => Ty::Dyn,
            other => other.clone(),
        },
        (x, y) => return err(format!("cannot add {} to {}", article(y), article(x))),
    })
}

fn sub_type(a: &Ty, b: &Ty) -> Result<Ty, ExprError> {
    Ok(match (a, b) {
        (Ty::Offset, Ty::Int) => Ty::Offset,
        (x, y) if x.is_intlike() && y.is_intlike() => Ty::Int,
        (Ty::Double, Ty::Double) => Ty::Double,
        (Ty::UInt, Ty::UInt) => Ty::UInt,
        (Ty::Timestamp, Ty::Timestamp) => Ty::Duration,
        (Ty::Timestamp, Ty::Duration) => Ty::Timestamp,
        (Ty::Duration, Ty::Duration) => Ty::Duration,
        (Ty::Dyn, _) | (_, Ty::Dyn) => Ty::Dyn,
        (x, y) => {
            return err(format!(
                "cannot subtract {} from {}",
                article(y),
                article(x)
            ));
        }
    })
}

/// A failure while evaluating a checked expression (a null where a value was expected, an
/// overflow…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("evaluating '{source_text}': {message}")]
pub struct EvalError {
    pub source_text: String,
    pub message: String,
}

/// The values an expression is evaluated against.
pub struct Bindings<'a> {
    pub value: Option<&'a Value>,
    pub vars: &'a BTreeMap<String, Value>,
    pub now: DateTime<Utc>,
}

impl Expr {
    /// Evaluates the expression and converts the result to a [`Value`] of its static type.
    pub fn eval(&self, b: &Bindings<'_>) -> Result<Value, EvalError> {
        let fail = |message: String| EvalError {
            source_text: self.source.clone(),
            message,
        };
        let mut ctx = cel::Context::default();
        if let Some(v) = b.value {
            ctx.add_variable_from_value("value", to_cel(v));
        }
        let vars: std::collections::HashMap<String, cel::Value> = b
            .vars
            .iter()
            .filter(|(_, v)| !v.contains_secret())
            .map(|(k, v)| (k.clone(), to_cel(v)))
            .collect();
        ctx.add_variable_from_value("vars", vars);
        ctx.add_variable_from_value("now", cel::Value::Timestamp(b.now.fixed_offset()));
        let out = self
            .program
            .execute(&ctx)
            .map_err(|e| fail(describe_exec_error(&e.to_string())))?;
        from_cel(&out, &self.ty).map_err(fail)
    }

    /// Evaluates an expectation: true, false, or an error (a null compared, for example).
    pub fn eval_bool(&self, b: &Bindings<'_>) -> Result<bool, EvalError> {
        match self.eval(b)? {
            Value::Bool(v) => Ok(v),
            other => Err(EvalError {
                source_text: self.source.clone(),
                message: format!("expected true or false, got {other}"),
            }),
        }
    }
}

fn describe_exec_error(s: &str) -> String {
    if s.contains("No such key") || s.contains("no such key") {
        format!("{s} (the probe returned no such field, or no row)")
    } else {
        s.to_owned()
    }
}

/// Converts a value into CEL. Offsets and integers become ints, decimals doubles.
pub fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null | Value::Secret(_) => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Integer(i) | Value::Offset(i) => cel::Value::Int(*i),
        Value::Decimal(d) => d.parse::<f64>().map_or(cel::Value::Null, cel::Value::Float),
        Value::Text(t) => cel::Value::String(Arc::new(t.clone())),
        Value::Timestamp(t) => cel::Value::Timestamp(t.fixed_offset()),
        Value::Duration(d) => cel::Value::Duration(*d),
        Value::List(l) => cel::Value::List(Arc::new(l.iter().map(to_cel).collect())),
        Value::Map(m) => {
            let map: std::collections::HashMap<String, cel::Value> =
                m.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            map.into()
        }
    }
}

fn from_cel(v: &cel::Value, ty: &Ty) -> Result<Value, String> {
    Ok(match v {
        cel::Value::Null => Value::Null,
        cel::Value::Bool(b) => Value::Bool(*b),
        cel::Value::Int(i) => {
            if *ty == Ty::Offset {
                if *i < 0 {
                    return Err(format!(
                        "the result {i} is negative, so it is not an offset"
                    ));
                }
                Value::Offset(*i)
            } else {
                Value::Integer(*i)
            }
        }
        cel::Value::UInt(u) => Value::Integer(i64::try_from(*u).map_err(|e| e.to_string())?),
        cel::Value::Float(f) => Value::Decimal(f.to_string()),
        cel::Value::String(s) => Value::Text(s.to_string()),
        cel::Value::Bytes(b) => Value::Text(hex::encode(b.as_slice())),
        cel::Value::Timestamp(t) => Value::Timestamp(t.with_timezone(&Utc)),
        cel::Value::Duration(d) => Value::Duration(*d),
        cel::Value::List(l) => {
            let elem = match ty {
                Ty::List(e) => (**e).clone(),
                _ => Ty::Dyn,
            };
            Value::List(
                l.iter()
                    .map(|x| from_cel(x, &elem))
                    .collect::<Result<_, _>>()?,
            )
        }
        cel::Value::Map(m) => {
            let mut out = BTreeMap::new();
            for (k, val) in m.map.iter() {
                let key = match k {
                    cel::objects::Key::String(s) => s.to_string(),
                    other => format!("{other:?}"),
                };
                let fty = match ty {
                    Ty::Record(f) => f.get(&key).cloned().unwrap_or(Ty::Dyn),
                    Ty::Map(t) => (**t).clone(),
                    _ => Ty::Dyn,
                };
                out.insert(key, from_cel(val, &fty)?);
            }
            Value::Map(out)
        }
        other => return Err(format!("the result has an unsupported type ({other:?})")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let mut vars = BTreeMap::new();
        vars.insert("t_recovery".into(), Ty::Timestamp);
        vars.insert("off".into(), Ty::Offset);
        vars.insert("ttl".into(), Ty::Duration);
        vars.insert("pw".into(), Ty::Secret);
        let mut later = BTreeMap::new();
        later.insert("t_safe".into(), "compute-t-safe".into());
        Scope {
            value: Some(Ty::record([
                ("record_time".into(), Ty::Timestamp),
                ("offset".into(), Ty::Offset),
                ("running".into(), Ty::Bool),
                (
                    "rows".into(),
                    Ty::List(Box::new(Ty::record([("amount".into(), Ty::Double)]))),
                ),
            ])),
            vars,
            later,
        }
    }

    fn ok(src: &str) -> Expr {
        check(src, &scope(), Some(&Ty::Bool)).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn bad(src: &str) -> String {
        match check(src, &scope(), Some(&Ty::Bool)) {
            Ok(e) => panic!("{src} should be rejected, got {e:?}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn well_typed_expectations() {
        ok("value.record_time >= vars.t_recovery");
        ok("now - value.record_time < duration('720h')");
        ok("value.running == false");
        ok("value.offset > vars.off");
        ok("value.rows.all(r, r.amount > 0.0)");
        ok("size(value.rows) == 0 || value.rows.exists(r, r.amount > 1.0)");
        ok("has(value.offset) && value.offset != null");
        ok("vars.t_recovery + vars.ttl > now");
    }

    #[test]
    fn type_errors_are_reported() {
        assert!(
            bad("value.record_time > vars.off")
                .contains("cannot order a timestamp against an offset")
        );
        assert!(bad("value.offset").contains("is an offset, but a bool is needed"));
        assert!(bad("value.nope == 1").contains("has no field 'nope'"));
        assert!(bad("vars.t_safe > now").contains("used before step 'compute-t-safe'"));
        assert!(bad("vars.ghost > now").contains("'ghost' is not defined"));
        assert!(bad("vars.pw == 'x'").contains("secret"));
        assert!(bad("t_recovery > now").contains("write vars.t_recovery"));
        assert!(bad("now - duration('1h') > vars.ttl").contains("cannot order"));
        assert!(bad("duration('forever') > vars.ttl").contains("not valid"));
        assert!(bad("value.running == ").contains("invalid expression"));
        assert!(bad("frobnicate(1) == 1").contains("unknown function"));
        assert!(bad("value.running && 1").contains("needs bools"));
    }

    #[test]
    fn captures_keep_offset_type() {
        let e = check("value.offset", &scope(), None).unwrap();
        assert_eq!(e.ty(), &Ty::Offset);
        let e = check("value.record_time - duration('1us')", &scope(), None).unwrap();
        assert_eq!(e.ty(), &Ty::Timestamp);
        let e = check("vars.t_recovery - now", &scope(), None).unwrap();
        assert_eq!(e.ty(), &Ty::Duration);
    }

    #[test]
    fn evaluation_with_microseconds() {
        let t = crate::value::parse_timestamp("2026-01-01T00:00:00.000002Z").unwrap();
        let value = Value::Map(BTreeMap::from([
            ("record_time".into(), Value::Timestamp(t)),
            ("offset".into(), Value::Offset(42)),
            ("running".into(), Value::Bool(false)),
            ("rows".into(), Value::List(vec![])),
        ]));
        let vars = BTreeMap::from([(
            "t_recovery".to_string(),
            Value::Timestamp(crate::value::parse_timestamp("2026-01-01T00:00:00.000001Z").unwrap()),
        )]);
        let b = Bindings {
            value: Some(&value),
            vars: &vars,
            now: t,
        };
        assert!(
            ok("value.record_time > vars.t_recovery")
                .eval_bool(&b)
                .unwrap()
        );
        assert!(
            !ok("value.record_time == vars.t_recovery")
                .eval_bool(&b)
                .unwrap()
        );
        let minus = check("value.record_time - duration('1us')", &scope(), None).unwrap();
        assert_eq!(minus.eval(&b).unwrap(), vars["t_recovery"]);
        let off = check("value.offset + 1", &scope(), None).unwrap();
        assert_eq!(off.eval(&b).unwrap(), Value::Offset(43));
    }

    #[test]
    fn var_refs_are_collected() {
        let e = ok("vars.t_recovery < now && value.offset > vars.off");
        assert_eq!(
            e.var_refs(),
            vec!["off".to_string(), "t_recovery".to_string()]
        );
    }
}
