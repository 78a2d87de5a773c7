//! The checker: resolves names across files, validates every block and
//! setting, type-checks expressions and compiles the result into a
//! [`Graph`]. It reports every problem it finds, never only the first.

mod blocks;
mod routes;
mod values;

use crate::codes::Code;
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::Graph;
use crate::loader::{Loaded, Vfs};
use crate::schema::{self, Naming, RefKind};
use crate::span::{FileId, Loc, SourceMap, Span};
use crate::syntax::ast::{Ast, Block, Directive, Head};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// How strict to be about the environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// `hapax check`: an unset environment variable is a warning.
    #[default]
    Check,
    /// `hapax serve`: it is an error.
    Serve,
}

/// A declared or referenced name, for the language server.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    pub kind: RefKind,
    pub name: String,
    /// The name itself.
    pub loc: Loc,
}

/// Declarations (with the span of the whole block) and references.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    pub decls: Vec<(Symbol, Loc)>,
    pub refs: Vec<Symbol>,
}

/// The outcome of checking a policy set.
#[derive(Debug)]
pub struct Checked {
    pub sources: SourceMap,
    pub asts: Vec<Ast>,
    /// Complete only when `diags` has no errors.
    pub graph: Graph,
    pub diags: Diagnostics,
    pub symbols: Symbols,
}

impl Checked {
    pub fn ok(&self) -> bool {
        !self.diags.has_errors()
    }
}

/// Checks and compiles a loaded policy set.
pub fn check(loaded: Loaded, vfs: &dyn Vfs, mode: Mode) -> Checked {
    let Loaded { mut sources, mut asts, diags } = loaded;
    let mut c = Checker {
        file: FileId(0),
        sources: &sources,
        vfs,
        serve: mode == Mode::Serve,
        diags: diags.0,
        names: HashMap::new(),
        symbols: Symbols::default(),
        used: HashSet::new(),
        has_cluster: false,
    };
    c.declare(&asts);
    let mut graph = c.lower(&asts);
    c.check_routes(&mut graph);
    c.report_unused(&graph);
    let (mut diags, symbols) = (c.diags, c.symbols);
    cedar(&mut graph, &mut sources, &mut asts, vfs, &mut diags);
    let mut diags = Diagnostics(diags);
    diags.sort();
    Checked { sources, asts, graph, diags, symbols }
}

/// Reads, checks and compiles the `authz` Cedar file, which joins the
/// sources (with an empty tree, so file ids stay aligned) so that its
/// diagnostics point into it. Only a policy with no other error gets its
/// Cedar compiled: the schema is generated from the rest.
fn cedar(graph: &mut Graph, sources: &mut SourceMap, asts: &mut Vec<Ast>, vfs: &dyn Vfs, diags: &mut Vec<Diagnostic>) {
    let Some(path) = graph.authz.as_ref().map(|a| a.cedar.clone()) else { return };
    let Ok(text) = vfs.read(&path) else { return }; // reported as a missing file
    let file = match sources.find(&path) {
        Some(f) => f,
        None => {
            asts.push(Ast::default());
            sources.add(path, text.clone())
        }
    };
    match crate::authz::compile(graph, &text, file) {
        Ok((cedar, warnings)) => {
            diags.extend(warnings);
            if let Some(a) = graph.authz.as_mut() {
                a.compiled = Some(std::sync::Arc::new(cedar));
            }
        }
        Err(errors) => diags.extend(errors),
    }
}

/// Loads and checks in one call.
pub fn check_paths(
    roots: &[std::path::PathBuf],
    vfs: &dyn Vfs,
    mode: Mode,
) -> Result<Checked, crate::loader::LoadError> {
    Ok(check(crate::loader::load(roots, vfs)?, vfs, mode))
}

/// The names of one kind: their order gives their ids.
#[derive(Default)]
struct NameTable {
    list: Vec<(String, Loc)>,
    index: HashMap<String, u32>,
}

pub(crate) struct Checker<'a> {
    file: FileId,
    sources: &'a SourceMap,
    vfs: &'a dyn Vfs,
    serve: bool,
    diags: Vec<Diagnostic>,
    /// Declared names per kind, in declaration order, with where they are.
    names: HashMap<RefKind, NameTable>,
    symbols: Symbols,
    used: HashSet<(RefKind, u32)>,
    has_cluster: bool,
}

impl<'a> Checker<'a> {
    fn dir(&self) -> &Path {
        self.sources.get(self.file).dir()
    }

    fn text(&self, span: Span) -> &str {
        self.sources.get(self.file).text.get(span.range()).unwrap_or("")
    }

    /// A hash of a declaration's text, whitespace folded.
    fn fingerprint(&self, span: Span) -> u64 {
        let folded: String = self.text(span).split_whitespace().collect::<Vec<_>>().join(" ");
        crate::expr::stable_hash(&folded)
    }

    /// First pass: every top-level declaration, its kind and name.
    fn declare(&mut self, asts: &[Ast]) {
        let mut singletons: HashMap<&'static str, Loc> = HashMap::new();
        let mut prices: HashMap<String, Loc> = HashMap::new();
        let mut tests: HashSet<String> = HashSet::new();
        for (i, ast) in asts.iter().enumerate() {
            self.file = FileId(i as u32);
            for d in &ast.items {
                let Head::Key(key) = &d.head else {
                    let e = self
                        .error(Code::NotTopLevel, d.key_span(), "a split arm must be inside a `split` block")
                        .help("put it in `split { ... }` inside a route");
                    self.err(e);
                    continue;
                };
                let Some(spec) = schema::top_level().find(|b| b.context == key.name) else {
                    self.unknown_block(d);
                    continue;
                };
                match spec.naming {
                    Naming::Singleton => {
                        if let Some(first) = singletons.get(spec.context) {
                            let e = self
                                .error(
                                    Code::SingletonBlock,
                                    key.span,
                                    format!("only one `{}` block is allowed", key.name),
                                )
                                .related(*first, "the first one is here")
                                .help("merge their settings into the first one");
                            self.err(e);
                        } else {
                            singletons.insert(spec.context, self.loc(key.span));
                        }
                        if spec.context == "cluster" {
                            self.has_cluster = true;
                        }
                    }
                    Naming::Name | Naming::NameAndPath => {
                        let kind = RefKind::from_keyword(spec.context);
                        match (d.name_arg(), kind) {
                            (Some(name), Some(kind)) => self.add_decl(kind, name, d),
                            (Some(name), None) => {
                                // Tests have names but nothing refers to them.
                                if !tests.insert(name.name.clone()) {
                                    let e = self
                                        .error(
                                            Code::Duplicate,
                                            name.span,
                                            format!("`test {}` is declared twice", name.name),
                                        )
                                        .help("rename one of them");
                                    self.err(e);
                                }
                            }
                            _ => {
                                let e = self
                                    .error(Code::MissingName, d.head_span(), format!("`{}` needs a name", key.name))
                                    .help(format!(
                                        "write `{} NAME {{ ... }}`; names are letters, digits, `_` and `-`",
                                        key.name
                                    ));
                                self.err(e);
                            }
                        }
                    }
                    Naming::Str => {
                        if let Some(model) = d.args.first().and_then(|a| a.value.as_str()) {
                            let loc = self.loc(d.args[0].value.span);
                            if let Some(first) = prices.get(model) {
                                let e = self
                                    .error(Code::Duplicate, loc.span, format!("`price \"{model}\"` is declared twice"))
                                    .related(*first, "first declared here");
                                self.err(e);
                            } else {
                                prices.insert(model.to_string(), loc);
                            }
                        }
                    }
                    Naming::Path => {}
                }
            }
        }
    }

    fn add_decl(&mut self, kind: RefKind, name: crate::syntax::ast::Ident, d: &Directive) {
        let loc = self.loc(name.span);
        let table = self.names.entry(kind).or_default();
        if let Some(&i) = table.index.get(&name.name) {
            let first = table.list[i as usize].1;
            let msg = format!("`{} {}` is declared twice", kind.keyword(), name.name);
            let here = Diagnostic::new(Code::Duplicate, loc.file, loc.span, msg.clone())
                .related(first, "also declared here")
                .help("rename one of them; names are shared by all imported files");
            let there = Diagnostic::new(Code::Duplicate, first.file, first.span, msg)
                .related(loc, "also declared here")
                .help("rename one of them; names are shared by all imported files");
            self.diags.push(here);
            self.diags.push(there);
            return;
        }
        table.index.insert(name.name.clone(), table.list.len() as u32);
        table.list.push((name.name.clone(), loc));
        self.symbols.decls.push((Symbol { kind, name: name.name, loc }, self.loc(d.span)));
    }

    fn unknown_block(&mut self, d: &Directive) {
        let key = d.key();
        let span = d.key_span();
        let mut e = self.error(Code::UnknownBlock, span, format!("unknown block `{key}`"));
        let kinds: Vec<&str> = schema::top_level().map(|b| b.context).collect();
        if let Some(s) = crate::suggest::did_you_mean(key, kinds.iter().copied()) {
            e = e.help(format!("did you mean `{s}`?")).fix(format!("change to `{s}`"), self.loc(span), s);
        } else if schema::BLOCKS.iter().any(|b| b.setting(key).is_some()) {
            let owners: Vec<&str> =
                schema::BLOCKS.iter().filter(|b| b.setting(key).is_some()).map(|b| b.context).collect();
            e = e.help(format!("`{key}` is a setting of `{}`; put it inside that block", owners.join("`, `")));
        } else {
            e = e.help(format!("the blocks are {}", kinds.join(", ")));
        }
        self.err(e);
    }

    /// Resolves a reference to a declared name; reports unknown ones with a
    /// suggestion and a fix that declares it.
    fn resolve(&mut self, kind: RefKind, e: &crate::syntax::ast::Expr) -> Option<u32> {
        let Some(name) = e.as_ident() else {
            let d = self
                .error(
                    Code::WrongType,
                    e.span,
                    format!("expected the name of a {}, found {}", kind.keyword(), e.describe()),
                )
                .help(format!(
                    "names are written without quotes: `{} my_name` is declared, `my_name` refers to it",
                    kind.keyword()
                ));
            self.err(d);
            return None;
        };
        self.resolve_name(kind, name, e.span)
    }

    fn resolve_name(&mut self, kind: RefKind, name: &str, span: Span) -> Option<u32> {
        let loc = self.loc(span);
        self.symbols.refs.push(Symbol { kind, name: name.to_string(), loc });
        let list: Vec<String> = match self.names.get(&kind) {
            Some(table) => {
                if let Some(&i) = table.index.get(name) {
                    self.used.insert((kind, i));
                    return Some(i);
                }
                table.list.iter().map(|(n, _)| n.clone()).collect()
            }
            None => Vec::new(),
        };
        let mut d = self.error(Code::UnknownReference, span, format!("unknown {} `{name}`", kind.keyword()));
        if let Some(s) = crate::suggest::did_you_mean(name, list.iter().map(String::as_str)) {
            d = d.help(format!("did you mean `{s}`?")).fix(format!("change to `{s}`"), loc, s);
        } else if list.is_empty() && kind == RefKind::Script {
            d = d.help(format!("no script is declared; declare one with `script {name} \"path/to/{name}.rhai\"`"));
        } else if list.is_empty() {
            d = d.help(format!(
                "no {} is declared; declare one with `{} {name} {{ ... }}`",
                kind.keyword(),
                kind.keyword()
            ));
        } else {
            let names: Vec<&str> = list.iter().map(String::as_str).take(8).collect();
            d = d.help(format!("the declared {}s are {}", kind.keyword(), names.join(", ")));
        }
        let end = self.sources.get(self.file).text.len();
        let stub = match kind {
            RefKind::Provider => format!("\nprovider {name} {{\n  type mock\n}}\n"),
            RefKind::Tier => format!("\ntier {name} {{ priority 1 }}\n"),
            RefKind::Limit => format!("\nlimit {name} {{\n  requests 60 per 1m\n}}\n"),
            RefKind::Script => format!("\nscript {name} \"scripts/{name}.rhai\"\n"),
            k => format!("\n{} {name} {{\n}}\n", k.keyword()),
        };
        d.fixes.push(crate::diag::Fix {
            title: format!("declare {} `{name}`", kind.keyword()),
            edits: vec![(Loc { file: self.file, span: Span::new(end, end) }, stub)],
        });
        self.err(d);
        None
    }

    /// Validates the settings of a block against the schema: unknown keys
    /// (with did-you-mean), repeated keys, blocks where none belong. Returns
    /// the directives that may be lowered.
    fn settings<'d>(&mut self, ctx: &str, block: Option<&'d Block>) -> Vec<&'d Directive> {
        let Some(spec) = schema::block(ctx) else { return Vec::new() };
        let Some(block) = block else { return Vec::new() };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut out = Vec::new();
        for d in &block.items {
            if let Head::Arm(w) = &d.head {
                if ctx == "route.split" {
                    out.push(d);
                } else {
                    let e = self
                        .error(Code::UnknownSetting, w.span, "a split arm belongs in a `split` block")
                        .help("write `split { 50% -> a; 50% -> b }` in a route");
                    self.err(e);
                }
                continue;
            }
            let key = d.key();
            if d.broken {
                seen.insert(key, d.key_span());
                continue;
            }
            let Some(setting) = spec.setting(key) else {
                self.unknown_setting(ctx, spec.settings, d);
                continue;
            };
            if !setting.repeat {
                if let Some(first) = seen.get(key) {
                    let e = self
                        .error(Code::DuplicateSetting, d.key_span(), format!("`{key}` is set twice in this block"))
                        .related(self.loc(*first), "first set here")
                        .help("keep one of them");
                    self.err(e);
                    continue;
                }
                seen.insert(key, d.key_span());
            }
            if setting.block.is_none() {
                if let Some(b) = &d.block {
                    let e = self
                        .error(
                            Code::UnknownSetting,
                            Span::new(b.span.start as usize, b.span.start as usize + 1),
                            format!("`{key}` does not take a block"),
                        )
                        .help(format!("write `{key}` and its value on one line"));
                    self.err(e);
                }
            }
            out.push(d);
        }
        out
    }

    fn unknown_setting(&mut self, ctx: &str, allowed: &[schema::Setting], d: &Directive) {
        let key = d.key();
        let span = d.key_span();
        let owner = ctx.rsplit('.').next().unwrap_or(ctx);
        if schema::top_level().any(|b| b.context == key) && !ctx.starts_with("test") {
            let e = self
                .error(Code::NotTopLevel, span, format!("`{key}` blocks cannot be nested in `{owner}`"))
                .help(format!("move the `{key}` block to the top level of the file"));
            self.err(e);
            return;
        }
        let mut e = self.error(Code::UnknownSetting, span, format!("`{key}` is not a setting of `{owner}`"));
        if let Some(s) = crate::suggest::did_you_mean(key, allowed.iter().map(|s| s.key)) {
            e = e.help(format!("did you mean `{s}`?")).fix(format!("change to `{s}`"), self.loc(span), s);
        } else {
            let elsewhere: Vec<&str> =
                schema::BLOCKS.iter().filter(|b| b.setting(key).is_some()).map(|b| b.context).collect();
            if elsewhere.is_empty() {
                let keys: Vec<&str> = allowed.iter().map(|s| s.key).collect();
                e = e.help(format!("the settings of `{owner}` are {}", keys.join(", ")));
            } else {
                e = e.help(format!("`{key}` belongs in `{}`", elsewhere.join("`, `")));
            }
        }
        self.err(e);
    }
}
