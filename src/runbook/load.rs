//! Reading runbook files: size and encoding limits, TOML parsing with spans, includes with cycle
//! detection, and the hand-off to the step validator. Every problem found is reported, not just
//! the first.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::runbook::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::runbook::expr::Ty;
use crate::runbook::model::{
    CommandDecl, EndpointDecl, ParamDecl, QueryDecl, Runbook, SourceFile, Step,
};
use crate::runbook::raw::{RawCommand, RawEndpoint, RawHeader, RawParam, RawQuery, RawStep};
use crate::runbook::steps::{StepContext, validate_step};
use crate::runbook::template::is_var_name;
use crate::value::{Value, ValueType};

/// Runbook files larger than this are refused before parsing.
pub const MAX_RUNBOOK_BYTES: u64 = 1024 * 1024;
/// Includes may nest this deep.
pub const MAX_INCLUDE_DEPTH: usize = 8;

const HEADER_FIELDS: &[&str] = &[
    "format",
    "id",
    "title",
    "source",
    "source_url",
    "summary",
    "recovery_budget",
    "fragment",
    "needs",
];
const SECTION_FIELDS: &[&str] = &["params", "queries", "commands", "endpoints", "step"];
const STEP_FIELDS: &[&str] = &[
    "id",
    "kind",
    "title",
    "why",
    "instructions",
    "caveat",
    "budget",
    "when",
    "implements",
    "evidence",
    "destructive",
    "var",
    "type",
    "prompt",
    "default",
    "expect",
    "probe",
    "capture",
    "advisory",
    "interval",
    "timeout",
    "progress",
    "run",
    "argv",
    "script",
    "shell",
    "action",
    "env",
    "keep_running_on_exit",
    "success_codes",
    "verify",
    "runbook",
];

/// Loads and validates the runbook at `path`, with its includes.
pub fn load(path: &Path) -> Result<Runbook, Diagnostics> {
    let mut loader = Loader::default();
    let name = path.display().to_string();
    let unit = loader.load_file(path, name, &BTreeMap::new(), 0, None);
    if !loader.diags.is_empty() {
        loader.diags.sort();
        return Err(loader.diags);
    }
    let Some(unit) = unit else {
        return Err(loader.diags);
    };
    Ok(loader.finish(unit))
}

/// Loads a runbook from text (tests, and runbooks embedded in a journal). Includes are resolved
/// from `files` by name instead of the file system.
pub fn load_embedded(files: &[SourceFile]) -> Result<Runbook, Diagnostics> {
    let mut loader = Loader {
        embedded: Some(files.to_vec()),
        ..Loader::default()
    };
    let Some(first) = files.first() else {
        return Err(Diagnostics(vec![Diagnostic {
            file: PathBuf::from("<journal>"),
            line: 0,
            col: 0,
            step: None,
            message: "the journal holds no runbook text".into(),
        }]));
    };
    let unit = loader.load_file(&first.path, first.name.clone(), &BTreeMap::new(), 0, None);
    if !loader.diags.is_empty() {
        loader.diags.sort();
        return Err(loader.diags);
    }
    match unit {
        Some(unit) => Ok(loader.finish(unit)),
        None => Err(loader.diags),
    }
}

/// What one file contributes after validation.
pub(crate) struct Unit {
    header: Header,
    pub(crate) decls: Decls,
    pub(crate) steps: Vec<Step>,
}

struct Header {
    id: String,
    title: String,
    source: String,
    source_url: Option<String>,
    summary: Option<String>,
    recovery_budget: Option<chrono::TimeDelta>,
    fragment: bool,
    needs: BTreeMap<String, ValueType>,
}

/// The declarations visible to steps.
#[derive(Default, Clone)]
pub(crate) struct Decls {
    pub(crate) params: BTreeMap<String, ParamDecl>,
    pub(crate) queries: BTreeMap<String, QueryDecl>,
    pub(crate) commands: BTreeMap<String, CommandDecl>,
    pub(crate) endpoints: BTreeMap<String, EndpointDecl>,
}

#[derive(Default)]
struct Loader {
    diags: Diagnostics,
    stack: Vec<PathBuf>,
    files: Vec<SourceFile>,
    embedded: Option<Vec<SourceFile>>,
}

/// Information passed to the loader of an included file.
pub(crate) struct IncludeSite<'a> {
    pub(crate) source: &'a Source,
    pub(crate) span: Range<usize>,
    pub(crate) step_id: &'a str,
}

impl Loader {
    fn read(&mut self, path: &Path, name: &str, site: Option<&IncludeSite<'_>>) -> Option<String> {
        let fail = |this: &mut Loader, msg: String| {
            let d = match site {
                Some(s) => s.source.diag(Some(s.span.clone()), Some(s.step_id), msg),
                None => Diagnostic {
                    file: PathBuf::from(name),
                    line: 0,
                    col: 0,
                    step: None,
                    message: msg,
                },
            };
            this.diags.push(d);
            None
        };
        if let Some(files) = &self.embedded {
            return match files.iter().find(|f| f.path == path) {
                Some(f) => Some(f.text.clone()),
                None => fail(
                    self,
                    format!("included file '{name}' is not in the journal"),
                ),
            };
        }
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return fail(self, format!("cannot read '{}': {e}", path.display())),
        };
        if meta.is_dir() {
            return fail(
                self,
                format!("'{}' is a directory, not a runbook file", path.display()),
            );
        }
        if meta.len() > MAX_RUNBOOK_BYTES {
            return fail(
                self,
                format!(
                    "the file is {} bytes; runbooks are limited to {} bytes",
                    meta.len(),
                    MAX_RUNBOOK_BYTES
                ),
            );
        }
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) => return fail(self, format!("cannot read '{}': {e}", path.display())),
        };
        match String::from_utf8(bytes) {
            Ok(t) => Some(t),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                fail(
                    self,
                    format!("the file is not UTF-8 text (invalid byte at offset {offset})"),
                )
            }
        }
    }

    /// Loads one file. `needs_from_includer` are the variables defined before the include site
    /// (empty for the main file).
    fn load_file(
        &mut self,
        path: &Path,
        name: String,
        defined_at_site: &BTreeMap<String, Ty>,
        depth: usize,
        site: Option<&IncludeSite<'_>>,
    ) -> Option<Unit> {
        let canonical = if self.embedded.is_some() {
            path.to_path_buf()
        } else {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        };
        if let Some(site) = site {
            if self.stack.contains(&canonical) {
                let chain: Vec<String> = self
                    .stack
                    .iter()
                    .chain(std::iter::once(&canonical))
                    .map(|p| {
                        p.file_name().map_or_else(
                            || p.display().to_string(),
                            |f| f.to_string_lossy().into_owned(),
                        )
                    })
                    .collect();
                self.diags.push(site.source.diag(
                    Some(site.span.clone()),
                    Some(site.step_id),
                    format!("include cycle: {}", chain.join(" -> ")),
                ));
                return None;
            }
            if depth > MAX_INCLUDE_DEPTH {
                self.diags.push(site.source.diag(
                    Some(site.span.clone()),
                    Some(site.step_id),
                    format!("includes nest deeper than {MAX_INCLUDE_DEPTH} levels"),
                ));
                return None;
            }
        }
        let text = self.read(path, &name, site)?;
        let source = Source::new(name.clone(), text.clone());
        self.files.push(SourceFile {
            name,
            path: path.to_path_buf(),
            text: text.clone(),
        });
        self.stack.push(canonical);
        let unit = self.load_source(&source, path, defined_at_site, depth, site);
        self.stack.pop();
        unit
    }

    fn load_source(
        &mut self,
        source: &Source,
        path: &Path,
        defined_at_site: &BTreeMap<String, Ty>,
        depth: usize,
        site: Option<&IncludeSite<'_>>,
    ) -> Option<Unit> {
        let table = match DeTable::parse(&source.text) {
            Ok(t) => t,
            Err(e) => {
                self.diags
                    .push(source.diag(e.span(), None, toml_message(&e)));
                return None;
            }
        };
        let table = table.into_inner();
        let mut header_table = DeTable::default();
        let mut sections: BTreeMap<&str, Spanned<DeValue<'_>>> = BTreeMap::new();
        for (key, value) in table.iter() {
            let k: &str = key.get_ref().as_ref();
            if HEADER_FIELDS.contains(&k) {
                header_table.insert(key.clone(), value.clone());
            } else if SECTION_FIELDS.contains(&k) {
                sections.insert(
                    SECTION_FIELDS
                        .iter()
                        .copied()
                        .find(|f| *f == k)
                        .unwrap_or("step"),
                    value.clone(),
                );
            } else {
                let all: Vec<&str> = HEADER_FIELDS
                    .iter()
                    .chain(SECTION_FIELDS)
                    .copied()
                    .collect();
                self.diags.push(source.diag(
                    Some(key.span()),
                    None,
                    unknown_field_message(k, "top-level field", &all),
                ));
            }
        }
        let header = self.header(source, header_table, site)?;
        let mut decls = Decls::default();
        self.params(source, sections.get("params"), &mut decls);
        self.queries(source, sections.get("queries"), &mut decls);
        self.commands(source, sections.get("commands"), &mut decls);
        self.endpoints(source, sections.get("endpoints"), &mut decls);

        // A fragment's needs must be met where it is included.
        if let Some(site) = site {
            for (var, ty) in &header.needs {
                match defined_at_site.get(var) {
                    None => self.diags.push(site.source.diag(
                        Some(site.span.clone()),
                        Some(site.step_id),
                        format!(
                            "the included runbook needs variable '{var}' ({ty}), which is not defined before this step"
                        ),
                    )),
                    Some(have) if have.value_type() != Some(*ty) => self.diags.push(site.source.diag(
                        Some(site.span.clone()),
                        Some(site.step_id),
                        format!(
                            "the included runbook needs variable '{var}' as {}, but it is {} here",
                            crate::runbook::expr::article(ty),
                            crate::runbook::expr::article(have)
                        ),
                    )),
                    Some(_) => {}
                }
            }
        }

        let raw_steps = self.raw_steps(source, sections.get("step"));
        if raw_steps.is_empty() && !sections.contains_key("step") {
            self.diags.push(source.diag(
                Some(0..0),
                None,
                "the runbook has no steps (add [[step]] tables)",
            ));
        }

        let mut defined: BTreeMap<String, Ty> = BTreeMap::new();
        for (k, p) in &decls.params {
            defined.insert(k.clone(), Ty::of(p.ty));
        }
        for (k, t) in &header.needs {
            defined.insert(k.clone(), Ty::of(*t));
        }
        let later = later_definitions(&raw_steps);
        let mut ctx = StepContext {
            source,
            decls,
            defined,
            later,
            seen_ids: BTreeMap::new(),
            steps: Vec::new(),
            diags: Diagnostics::default(),
        };
        for (span, raw) in raw_steps {
            if raw.kind.as_ref().is_some_and(|k| k.get_ref() == "include") {
                self.include(&mut ctx, path, span, raw, depth);
            } else {
                validate_step(&mut ctx, span, raw);
            }
        }
        self.diags.extend(ctx.diags);
        Some(Unit {
            header,
            decls: ctx.decls,
            steps: ctx.steps,
        })
    }

    fn include(
        &mut self,
        ctx: &mut StepContext<'_>,
        path: &Path,
        span: Range<usize>,
        raw: RawStep,
        depth: usize,
    ) {
        let source = ctx.source;
        let Some(step_id) = crate::runbook::steps::step_id(ctx, &span, &raw) else {
            return;
        };
        for (field, fspan) in raw.set_fields() {
            if field != "runbook" {
                ctx.diags.push(source.diag(
                    Some(fspan),
                    Some(&step_id),
                    format!(
                        "field '{field}' does not belong in an 'include' step (it takes: runbook)"
                    ),
                ));
            }
        }
        let Some(target) = raw.runbook.as_ref() else {
            ctx.diags.push(source.diag(
                Some(span.clone()),
                Some(&step_id),
                "an 'include' step needs 'runbook', the path of the runbook to include",
            ));
            return;
        };
        let when = crate::runbook::steps::when_source(ctx, &step_id, &raw);
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let target_path = base.join(target.get_ref());
        let site = IncludeSite {
            source,
            span: target.span(),
            step_id: &step_id,
        };
        let name = target_path.display().to_string();
        let Some(unit) = self.load_file(&target_path, name, &ctx.defined, depth + 1, Some(&site))
        else {
            return;
        };
        if !unit.header.fragment {
            ctx.diags.push(source.diag(
                Some(target.span()),
                Some(&step_id),
                format!(
                    "'{}' is not a fragment; only runbooks with `fragment = true` can be included",
                    target.get_ref()
                ),
            ));
        }
        merge_decls(ctx, &unit.decls, &step_id, &target.span());
        let group = raw
            .title
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_else(|| unit.header.title.clone());
        let outer_implements: Vec<String> = raw
            .implements
            .as_ref()
            .map(|i| i.get_ref().clone())
            .unwrap_or_default();
        for mut step in unit.steps {
            step.id = format!("{step_id}.{}", step.id);
            let mut implements = outer_implements.clone();
            implements.append(&mut step.implements);
            step.implements = implements;
            step.group = Some(group.clone());
            if let Some((outer_src, _)) = &when {
                step.when =
                    crate::runbook::steps::combine_when(ctx, &step_id, outer_src, step.when.take());
            }
            for (var, ty) in step.defines() {
                ctx.defined.insert(var, Ty::of(ty));
            }
            if ctx.seen_ids.insert(step.id.clone(), span.clone()).is_some() {
                ctx.diags.push(source.diag(
                    Some(span.clone()),
                    Some(&step.id),
                    "duplicate step id (an included step has the same id)",
                ));
            }
            ctx.steps.push(step);
        }
    }

    fn header(
        &mut self,
        source: &Source,
        table: DeTable<'_>,
        site: Option<&IncludeSite<'_>>,
    ) -> Option<Header> {
        let value = Spanned::new(0..source.text.len(), DeValue::Table(table));
        let raw: RawHeader = match deserialize(&value) {
            Ok(h) => h,
            Err(e) => {
                self.diags
                    .push(source.diag(e.span(), None, toml_message(&e)));
                return None;
            }
        };
        let mut missing_fields: Vec<(&str, &str)> = Vec::new();
        if let Some(f) = &raw.format
            && *f.get_ref() != 1
        {
            self.diags.push(source.diag(
                Some(f.span()),
                None,
                format!(
                    "runbook format {} is not supported by this canton-dr (it reads format 1)",
                    f.get_ref()
                ),
            ));
        }
        let id = match &raw.id {
            Some(id) => {
                if !is_step_id(id.get_ref()) {
                    self.diags.push(source.diag(
                        Some(id.span()),
                        None,
                        format!(
                            "runbook id '{}' must be lowercase letters, digits and '-'",
                            id.get_ref()
                        ),
                    ));
                }
                id.get_ref().clone()
            }
            None => {
                missing_fields.push(("id", "a short name such as \"validator-restore\""));
                String::new()
            }
        };
        let title = raw
            .title
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_else(|| {
                missing_fields.push(("title", "what the runbook does"));
                String::new()
            });
        let src = raw
            .source
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_else(|| {
                missing_fields.push(("source", "the document this runbook implements"));
                String::new()
            });
        for (field, what) in missing_fields {
            self.diags.push(source.diag(
                Some(0..0),
                None,
                format!("missing top-level field '{field}' ({what})"),
            ));
        }
        let fragment = raw.fragment.unwrap_or(false);
        let recovery_budget = match &raw.recovery_budget {
            Some(b) => match crate::value::parse_duration(b.get_ref()) {
                Ok(d) if d > chrono::TimeDelta::zero() => Some(d),
                Ok(_) => {
                    self.diags.push(source.diag(
                        Some(b.span()),
                        None,
                        "recovery_budget must be positive",
                    ));
                    None
                }
                Err(e) => {
                    self.diags.push(source.diag(
                        Some(b.span()),
                        None,
                        format!("recovery_budget '{}' is not a duration: {e}", b.get_ref()),
                    ));
                    None
                }
            },
            None => {
                if !fragment && site.is_none() {
                    self.diags.push(source.diag(
                        Some(0..0),
                        None,
                        "missing top-level field 'recovery_budget' (how long the whole procedure may take, e.g. \"45m\")",
                    ));
                }
                None
            }
        };
        let mut needs = BTreeMap::new();
        for (var, ty) in raw.needs.iter().flatten() {
            if !is_var_name(var) {
                self.diags.push(source.diag(
                    Some(ty.span()),
                    None,
                    format!(
                        "'{var}' is not a valid variable name (lowercase letters, digits and _)"
                    ),
                ));
            }
            match declarable_type(ty.get_ref()) {
                Ok(t) => {
                    needs.insert(var.clone(), t);
                }
                Err(msg) => self.diags.push(source.diag(Some(ty.span()), None, msg)),
            }
        }
        if !needs.is_empty() && !fragment {
            self.diags.push(source.diag(
                Some(0..0),
                None,
                "'needs' is only for fragments (add `fragment = true`)",
            ));
        }
        Some(Header {
            id,
            title,
            source: src,
            source_url: raw.source_url,
            summary: raw.summary,
            recovery_budget,
            fragment,
            needs,
        })
    }

    fn section_entries<'a, 'i>(
        &mut self,
        source: &Source,
        section: Option<&'a Spanned<DeValue<'i>>>,
        what: &str,
    ) -> Vec<(String, Range<usize>, &'a Spanned<DeValue<'i>>)> {
        let Some(section) = section else {
            return Vec::new();
        };
        let Some(table) = section.get_ref().as_table() else {
            self.diags.push(source.diag(
                Some(section.span()),
                None,
                format!("'{what}' must be a table of named entries ([{what}.NAME])"),
            ));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in table.iter() {
            let name: &str = key.get_ref().as_ref();
            if !is_var_name(name) {
                self.diags.push(source.diag(
                    Some(key.span()),
                    None,
                    format!(
                        "'{name}' is not a valid {what} name (lowercase letters, digits and _)"
                    ),
                ));
                continue;
            }
            out.push((name.to_owned(), key.span(), value));
        }
        out
    }

    fn params(
        &mut self,
        source: &Source,
        section: Option<&Spanned<DeValue<'_>>>,
        decls: &mut Decls,
    ) {
        for (name, _, value) in self.section_entries(source, section, "params") {
            let raw: RawParam = match deserialize(value) {
                Ok(r) => r,
                Err(e) => {
                    self.diags.push(source.diag(
                        e.span().or(Some(value.span())),
                        None,
                        format!("params.{name}: {}", toml_message(&e)),
                    ));
                    continue;
                }
            };
            let ty = match declarable_type(raw.ty.get_ref()) {
                Ok(t) => t,
                Err(msg) => {
                    self.diags.push(source.diag(Some(raw.ty.span()), None, msg));
                    continue;
                }
            };
            let default = match &raw.default {
                Some(d) => match literal_value(ty, d.get_ref()) {
                    Ok(v) => Some(v),
                    Err(msg) => {
                        self.diags.push(source.diag(
                            Some(d.span()),
                            None,
                            format!("params.{name}: {msg}"),
                        ));
                        None
                    }
                },
                None => None,
            };
            decls.params.insert(
                name,
                ParamDecl {
                    ty,
                    description: raw.description,
                    default,
                },
            );
        }
    }

    fn queries(
        &mut self,
        source: &Source,
        section: Option<&Spanned<DeValue<'_>>>,
        decls: &mut Decls,
    ) {
        for (name, _, value) in self.section_entries(source, section, "queries") {
            let raw: RawQuery = match deserialize(value) {
                Ok(r) => r,
                Err(e) => {
                    self.diags.push(source.diag(
                        e.span().or(Some(value.span())),
                        None,
                        format!("queries.{name}: {}", toml_message(&e)),
                    ));
                    continue;
                }
            };
            let mut params = Vec::new();
            for p in &raw.params {
                match declarable_type(p.get_ref()) {
                    Ok(ValueType::Secret) => self.diags.push(source.diag(
                        Some(p.span()),
                        None,
                        format!("queries.{name}: a secret cannot be a query parameter"),
                    )),
                    Ok(t) => params.push(t),
                    Err(msg) => self.diags.push(source.diag(Some(p.span()), None, msg)),
                }
            }
            let mut returns = BTreeMap::new();
            for (col, ty) in &raw.returns {
                match declarable_type(ty.get_ref()) {
                    Ok(ValueType::Secret) => self.diags.push(source.diag(
                        Some(ty.span()),
                        None,
                        format!("queries.{name}: a query cannot return a secret"),
                    )),
                    Ok(t) => {
                        returns.insert(col.clone(), t);
                    }
                    Err(msg) => self.diags.push(source.diag(Some(ty.span()), None, msg)),
                }
            }
            for reserved in ["row_count", "rows"] {
                if returns.contains_key(reserved) {
                    self.diags.push(source.diag(
                        Some(value.span()),
                        None,
                        format!("queries.{name}: column name '{reserved}' is reserved"),
                    ));
                }
            }
            decls.queries.insert(
                name,
                QueryDecl {
                    description: raw.description,
                    params,
                    returns,
                },
            );
        }
    }

    fn commands(
        &mut self,
        source: &Source,
        section: Option<&Spanned<DeValue<'_>>>,
        decls: &mut Decls,
    ) {
        for (name, _, value) in self.section_entries(source, section, "commands") {
            let raw: RawCommand = match deserialize(value) {
                Ok(r) => r,
                Err(e) => {
                    self.diags.push(source.diag(
                        e.span().or(Some(value.span())),
                        None,
                        format!("commands.{name}: {}", toml_message(&e)),
                    ));
                    continue;
                }
            };
            let mut env = Vec::new();
            for var in &raw.env {
                if !is_env_name(var.get_ref()) {
                    self.diags.push(source.diag(
                        Some(var.span()),
                        None,
                        format!(
                            "commands.{name}: '{}' is not an environment variable name (A-Z, 0-9, _)",
                            var.get_ref()
                        ),
                    ));
                } else {
                    env.push(var.get_ref().clone());
                }
            }
            if raw.read_only && raw.destructive {
                self.diags.push(source.diag(
                    Some(value.span()),
                    None,
                    format!("commands.{name}: a command cannot be both read_only and destructive"),
                ));
            }
            decls.commands.insert(
                name,
                CommandDecl {
                    description: raw.description,
                    env,
                    read_only: raw.read_only,
                    destructive: raw.destructive,
                },
            );
        }
    }

    fn endpoints(
        &mut self,
        source: &Source,
        section: Option<&Spanned<DeValue<'_>>>,
        decls: &mut Decls,
    ) {
        for (name, _, value) in self.section_entries(source, section, "endpoints") {
            match deserialize::<RawEndpoint>(value) {
                Ok(r) => {
                    decls.endpoints.insert(
                        name,
                        EndpointDecl {
                            description: r.description,
                        },
                    );
                }
                Err(e) => self.diags.push(source.diag(
                    e.span().or(Some(value.span())),
                    None,
                    format!("endpoints.{name}: {}", toml_message(&e)),
                )),
            }
        }
    }

    fn raw_steps(
        &mut self,
        source: &Source,
        section: Option<&Spanned<DeValue<'_>>>,
    ) -> Vec<(Range<usize>, RawStep)> {
        let Some(section) = section else {
            return Vec::new();
        };
        let Some(items) = section.get_ref().as_array() else {
            self.diags.push(source.diag(
                Some(section.span()),
                None,
                "'step' must be an array of tables: write each step as [[step]]",
            ));
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            let span = item.span();
            let Some(table) = item.get_ref().as_table() else {
                self.diags.push(source.diag(
                    Some(span),
                    None,
                    "each step must be a table ([[step]])",
                ));
                continue;
            };
            let step_id = table
                .get("id")
                .and_then(|v| v.get_ref().as_str())
                .map(str::to_owned);
            let kind = table.get("kind").and_then(|v| v.get_ref().as_str());
            let mut clean = DeTable::default();
            for (key, value) in table.iter() {
                let k: &str = key.get_ref().as_ref();
                if STEP_FIELDS.contains(&k) {
                    clean.insert(key.clone(), value.clone());
                } else {
                    let allowed: Vec<&str> = match kind.and_then(crate::runbook::raw::kind_fields) {
                        Some(extra) => COMMON_STEP_FIELDS.iter().chain(extra).copied().collect(),
                        None => STEP_FIELDS.to_vec(),
                    };
                    self.diags.push(source.diag(
                        Some(key.span()),
                        step_id.as_deref(),
                        unknown_field_message(k, "field", &allowed),
                    ));
                }
            }
            let value = Spanned::new(span.clone(), DeValue::Table(clean));
            match deserialize::<RawStep>(&value) {
                Ok(raw) => out.push((span, raw)),
                Err(e) => self.diags.push(source.diag(
                    e.span().or(Some(span)),
                    step_id.as_deref(),
                    toml_message(&e),
                )),
            }
        }
        out
    }

    fn finish(self, unit: Unit) -> Runbook {
        let mut hasher = Sha256::new();
        for f in &self.files {
            hasher.update((f.name.len() as u64).to_le_bytes());
            hasher.update(f.name.as_bytes());
            hasher.update((f.text.len() as u64).to_le_bytes());
            hasher.update(f.text.as_bytes());
        }
        let sha256 = hex::encode(hasher.finalize());
        let files = self.files;
        Runbook {
            id: unit.header.id,
            title: unit.header.title,
            source: unit.header.source,
            source_url: unit.header.source_url,
            summary: unit.header.summary,
            recovery_budget: unit.header.recovery_budget,
            fragment: unit.header.fragment,
            needs: unit.header.needs,
            params: unit.decls.params,
            queries: unit.decls.queries,
            commands: unit.decls.commands,
            endpoints: unit.decls.endpoints,
            steps: unit.steps,
            files,
            sha256,
        }
    }
}

/// Fields every step kind accepts.
pub const COMMON_STEP_FIELDS: &[&str] = &[
    "id",
    "kind",
    "title",
    "why",
    "instructions",
    "caveat",
    "budget",
    "when",
    "implements",
];

fn merge_decls(ctx: &mut StepContext<'_>, inner: &Decls, step_id: &str, span: &Range<usize>) {
    let source = ctx.source;
    let mut conflict = |what: &str, name: &str| {
        ctx.diags.push(source.diag(
            Some(span.clone()),
            Some(step_id),
            format!("the included runbook declares {what} '{name}' differently"),
        ));
    };
    for (k, v) in &inner.params {
        match ctx.decls.params.get(k) {
            Some(have) if have.ty != v.ty => conflict("param", k),
            Some(_) => {}
            None => {
                ctx.decls.params.insert(k.clone(), v.clone());
                ctx.defined.insert(k.clone(), Ty::of(v.ty));
            }
        }
    }
    for (k, v) in &inner.queries {
        match ctx.decls.queries.get(k) {
            Some(have) if have.params != v.params || have.returns != v.returns => {
                conflict("query", k)
            }
            Some(_) => {}
            None => {
                ctx.decls.queries.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, v) in &inner.commands {
        match ctx.decls.commands.get(k) {
            Some(have)
                if have.env != v.env
                    || have.read_only != v.read_only
                    || have.destructive != v.destructive =>
            {
                conflict("command", k)
            }
            Some(_) => {}
            None => {
                ctx.decls.commands.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, v) in &inner.endpoints {
        ctx.decls
            .endpoints
            .entry(k.clone())
            .or_insert_with(|| v.clone());
    }
}

/// For each variable, the first step that defines it (to explain "used too early").
fn later_definitions(steps: &[(Range<usize>, RawStep)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (_, raw) in steps {
        let Some(id) = raw.id.as_ref().map(|i| i.get_ref().clone()) else {
            continue;
        };
        if let Some(v) = &raw.var {
            out.entry(v.get_ref().clone()).or_insert_with(|| id.clone());
        }
        if let Some(c) = &raw.capture {
            for k in c.get_ref().keys() {
                out.entry(k.clone()).or_insert_with(|| id.clone());
            }
        }
    }
    out
}

/// Deserializes a spanned TOML value into `T`.
pub(crate) fn deserialize<'i, T: Deserialize<'i>>(
    value: &Spanned<DeValue<'i>>,
) -> Result<T, toml::de::Error> {
    T::deserialize(toml::de::ValueDeserializer::from(value.clone()))
}

/// A toml error's message, on one line, in our wording.
pub(crate) fn toml_message(e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    let msg = msg.replace('`', "'");
    if let Some(rest) = msg.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {expected}, found {found}");
    }
    msg
}

/// "unknown field 'x'", with the closest allowed name if there is a likely one.
pub(crate) fn unknown_field_message(field: &str, what: &str, allowed: &[&str]) -> String {
    let best = allowed
        .iter()
        .map(|a| (edit_distance(field, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min();
    match best {
        Some((_, a)) => format!("unknown {what} '{field}' (did you mean '{a}'?)"),
        None => format!(
            "unknown {what} '{field}' (expected one of: {})",
            allowed.join(", ")
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A type an input, param, need or query column may declare.
pub(crate) fn declarable_type(name: &str) -> Result<ValueType, String> {
    match ValueType::parse(name) {
        Some(t) if ValueType::DECLARABLE.contains(&t) => Ok(t),
        _ => Err(format!(
            "unknown type '{name}' (expected one of: {})",
            ValueType::DECLARABLE.map(ValueType::name).join(", ")
        )),
    }
}

/// A literal TOML value read as a value of type `ty`.
pub(crate) fn literal_value(ty: ValueType, v: &toml::Value) -> Result<Value, String> {
    let text = match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => {
            return Err(format!(
                "expected {} value, found {}",
                crate::runbook::expr::article(&ty),
                crate::runbook::expr::article(&v.type_str())
            ));
        }
    };
    if ty == ValueType::Secret {
        return Err("a secret cannot have a value written in a runbook".into());
    }
    Value::parse_as(ty, &text).map_err(|e| e.to_string())
}

/// Step ids: lowercase letters, digits and `-`, starting with a letter or digit.
pub fn is_step_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
        && s.len() <= 64
}

/// Environment variable names: `A-Z`, `0-9`, `_`, not starting with a digit.
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('A'..='Z' | '_'))
        && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
}

/// Every `.toml` file under `path` (or `path` itself), sorted, skipping `profiles` directories.
pub fn runbook_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    let mut seen = BTreeSet::new();
    while let Some(dir) = dirs.pop() {
        if !seen.insert(fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) {
            continue;
        }
        for entry in fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "profiles") {
                    dirs.push(p);
                }
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            unknown_field_message("tittle", "field", &["title", "id"]),
            "unknown field 'tittle' (did you mean 'title'?)"
        );
        assert!(
            unknown_field_message("zzz", "field", &["title", "id"])
                .contains("expected one of: title, id")
        );
    }

    #[test]
    fn ids_and_env_names() {
        assert!(is_step_id("stop-ingestion"));
        assert!(!is_step_id("Stop"));
        assert!(!is_step_id("-x"));
        assert!(is_env_name("START_OFFSET"));
        assert!(!is_env_name("start"));
    }
}
