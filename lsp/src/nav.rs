//! Names and structure: what name is under the cursor, where it is declared
//! and used (across every checked set that holds the file), renaming it,
//! the outline, workspace symbols and folding ranges.

use crate::position::LineIndex;
use crate::world::World;
use hapax_lang::check::Checked;
use hapax_lang::schema::{self, Naming, RefKind};
use hapax_lang::span::{FileId, Loc, Span};
use hapax_lang::syntax::ast::{Ast, Directive, ExprKind, Head};
use lsp_types::{
    DocumentSymbol, FoldingRange, FoldingRangeKind, Location, OneOf, SymbolKind, TextEdit, Uri, WorkspaceEdit,
    WorkspaceSymbol,
};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A declared or referenced name under the cursor.
#[derive(Debug, Clone)]
pub struct At {
    pub kind: RefKind,
    pub name: String,
    /// The name as written at the cursor.
    pub loc: Loc,
    pub is_decl: bool,
}

/// The name under `offset` in file `fid`, if any.
pub fn symbol_at(checked: &Checked, fid: FileId, offset: usize) -> Option<At> {
    let s = &checked.symbols;
    if let Some((d, _)) = s.decls.iter().find(|(d, _)| d.loc.file == fid && d.loc.span.contains(offset)) {
        return Some(At { kind: d.kind, name: d.name.clone(), loc: d.loc, is_decl: true });
    }
    s.refs.iter().find(|r| r.loc.file == fid && r.loc.span.contains(offset) && !r.name.is_empty()).map(|r| At {
        kind: r.kind,
        name: r.name.clone(),
        loc: r.loc,
        is_decl: false,
    })
}

/// The declaration of a name: where the name is written and the whole block.
pub fn decl_of(checked: &Checked, kind: RefKind, name: &str) -> Option<(Loc, Loc)> {
    checked.symbols.decls.iter().find(|(d, _)| d.kind == kind && d.name == name).map(|(d, block)| (d.loc, *block))
}

/// One place a name occurs.
pub struct Occurrence {
    pub set: Arc<Checked>,
    pub loc: Loc,
    pub is_decl: bool,
}

impl Occurrence {
    pub fn path(&self) -> &Path {
        &self.set.sources.get(self.loc.file).path
    }
    pub fn location(&self, world: &World) -> Option<Location> {
        let uri = world.docs.uri(self.path())?;
        let text = &self.set.sources.get(self.loc.file).text;
        Some(Location { uri, range: LineIndex::new(text).range(self.loc.span) })
    }
}

/// The name under the cursor and every place it occurs, declaration first.
pub fn occurrences(world: &World, path: &Path, offset: usize) -> Option<(At, Vec<Occurrence>)> {
    let mut sets = world.sets_with(path);
    let (first, fid) = sets.first()?;
    let at = symbol_at(first, *fid, offset)?;
    if let Some((decl, _)) = decl_of(first, at.kind, &at.name) {
        let decl_path = first.sources.get(decl.file).path.clone();
        for extra in world.sets_with(&decl_path) {
            if !sets.iter().any(|(s, _)| Arc::ptr_eq(s, &extra.0)) {
                sets.push(extra);
            }
        }
    }
    let mut seen: HashSet<(PathBuf, u32, u32)> = HashSet::new();
    let mut out = Vec::new();
    for (set, _) in &sets {
        let decls = set
            .symbols
            .decls
            .iter()
            .filter(|(d, _)| d.kind == at.kind && d.name == at.name)
            .map(|(d, _)| (d.loc, true));
        let refs = set.symbols.refs.iter().filter(|r| r.kind == at.kind && r.name == at.name).map(|r| (r.loc, false));
        for (loc, is_decl) in decls.chain(refs) {
            let key = (set.sources.get(loc.file).path.clone(), loc.span.start, loc.span.end);
            if seen.insert(key) {
                out.push(Occurrence { set: set.clone(), loc, is_decl });
            }
        }
    }
    out.sort_by_key(|o| !o.is_decl);
    Some((at, out))
}

/// Where the name under the cursor is declared; on an `import`, the file.
pub fn definition(world: &World, checked: &Checked, fid: FileId, offset: usize) -> Option<Location> {
    if let Some(at) = symbol_at(checked, fid, offset) {
        let (decl, _) = decl_of(checked, at.kind, &at.name)?;
        let file = checked.sources.get(decl.file);
        return Some(Location { uri: world.docs.uri(&file.path)?, range: LineIndex::new(&file.text).range(decl.span) });
    }
    let ast = checked.asts.get(fid.0 as usize)?;
    let d = ast.items.iter().find(|d| d.key() == "import" && d.span.contains(offset))?;
    let rel = d.args.first()?.value.as_str()?;
    let target = hapax_lang::loader::normalize(&checked.sources.get(fid).dir().join(rel));
    Some(Location { uri: world.docs.uri(&target)?, range: lsp_types::Range::default() })
}

/// Whether `name` may be declared: `[a-zA-Z_][a-zA-Z0-9_-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The edits that rename the name under the cursor everywhere, or why not.
#[expect(
    clippy::mutable_key_type,
    reason = "lsp-types keys `WorkspaceEdit::changes` by `Uri`, which is never mutated once built"
)]
pub fn rename(world: &World, path: &Path, offset: usize, new_name: &str) -> Result<WorkspaceEdit, String> {
    if !valid_name(new_name) {
        return Err(format!(
            "`{new_name}` is not a valid name: names are a letter or `_` followed by letters, digits, `_` and `-`"
        ));
    }
    let (at, occs) = occurrences(world, path, offset).ok_or("there is no declared name here to rename")?;
    let kw = at.kind.keyword();
    for (set, _) in world.sets_with(path) {
        if let Some((loc, _)) = decl_of(&set, at.kind, new_name) {
            if new_name == at.name {
                break;
            }
            let file = set.sources.get(loc.file);
            let (line, col) = file.human_line_col(loc.span.start as usize);
            return Err(format!(
                "cannot rename to `{new_name}`: {kw} `{new_name}` is already declared at {}:{line}:{col}",
                file.path.display()
            ));
        }
    }
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    if new_name != at.name {
        for o in &occs {
            if let Some(loc) = o.location(world) {
                changes.entry(loc.uri).or_default().push(TextEdit { range: loc.range, new_text: new_name.to_string() });
            }
        }
    }
    Ok(WorkspaceEdit { changes: Some(changes), ..Default::default() })
}

fn symbol_kind(d: &Directive, top: bool) -> SymbolKind {
    if !top {
        return if d.block.is_some() { SymbolKind::OBJECT } else { SymbolKind::PROPERTY };
    }
    match d.key() {
        "provider" => SymbolKind::CLASS,
        "route" => SymbolKind::FUNCTION,
        "test" => SymbolKind::METHOD,
        "tier" | "client" => SymbolKind::STRUCT,
        "script" | "import" => SymbolKind::FILE,
        "price" => SymbolKind::CONSTANT,
        "limit" | "queue" | "cache" | "sla" | "budget" => SymbolKind::OBJECT,
        _ => SymbolKind::NAMESPACE,
    }
}

/// The source text of a span, on one line and shortened.
fn snippet(text: &str, span: Span) -> String {
    let s: String = text.get(span.range()).unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// The outline of a file: top-level blocks named by their name, with
/// their settings and nested blocks as children.
pub fn document_symbols(ast: &Ast, text: &str) -> Vec<DocumentSymbol> {
    let idx = LineIndex::new(text);
    ast.items.iter().map(|d| outline(d, text, &idx, true)).collect()
}

#[allow(deprecated, reason = "`DocumentSymbol::deprecated` must still be given")]
fn outline(d: &Directive, text: &str, idx: &LineIndex, top: bool) -> DocumentSymbol {
    let key = d.key();
    let (name, selection, detail) = match (&d.head, top) {
        (Head::Arm(w), _) => (snippet(text, d.head_span()), w.span, None),
        (Head::Key(k), true) => match d.args.first().map(|a| (&a.value.kind, a.value.span)) {
            Some((ExprKind::Ident(n), span)) => (n.clone(), span, Some(key.to_string())),
            Some((ExprKind::Str { value, .. }, span)) => (value.clone(), span, Some(key.to_string())),
            _ => (key.to_string(), k.span, None),
        },
        (Head::Key(k), false) => {
            let args = d.args.first().map(|a| a.value.span.to(d.args[d.args.len() - 1].value.span));
            (key.to_string(), k.span, args.map(|s| snippet(text, s)).filter(|s| !s.is_empty()))
        }
    };
    let name = if name.is_empty() { key.to_string() } else { name };
    let name = if name.is_empty() { "?".to_string() } else { name };
    let children: Option<Vec<DocumentSymbol>> =
        d.block.as_ref().map(|b| b.items.iter().map(|i| outline(i, text, idx, false)).collect());
    DocumentSymbol {
        name,
        detail,
        kind: symbol_kind(d, top),
        tags: None,
        deprecated: None,
        range: idx.range(d.span),
        selection_range: idx.range(selection),
        children: children.filter(|c| !c.is_empty()),
    }
}

/// Every named top-level declaration in the checked sets and in the `.hapax`
/// files of the workspace folders (and their `policies/`), matching `query`
/// as a case-insensitive subsequence.
pub fn workspace_symbols(world: &World, query: &str) -> Vec<WorkspaceSymbol> {
    let mut files: Vec<(PathBuf, String, Ast)> = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for set in world.sets.values() {
        for (id, f) in set.sources.iter() {
            if seen.insert(f.path.clone()) {
                if let Some(ast) = set.asts.get(id.0 as usize) {
                    files.push((f.path.clone(), f.text.clone(), ast.clone()));
                }
            }
        }
    }
    let vfs = crate::world::Overlay { docs: &world.docs };
    for root in &world.roots {
        for dir in [root.clone(), root.join("policies")] {
            let Some(list) = hapax_lang::Vfs::list_dir(&vfs, &dir) else {
                continue;
            };
            for p in list {
                let p = hapax_lang::loader::normalize(&p);
                if seen.contains(&p) {
                    continue;
                }
                if let Ok(text) = hapax_lang::Vfs::read(&vfs, &p) {
                    let (ast, _) = hapax_lang::syntax::parse(FileId(0), &text);
                    seen.insert(p.clone());
                    files.push((p, text, ast));
                }
            }
        }
    }
    let q = query.to_lowercase();
    let mut out = Vec::new();
    for (path, text, ast) in &files {
        let Some(uri) = world.docs.uri(path) else {
            continue;
        };
        let idx = LineIndex::new(text);
        for d in &ast.items {
            let Some(spec) = schema::top_level().find(|b| b.context == d.key()) else {
                continue;
            };
            let name = match (spec.naming, d.args.first().map(|a| &a.value.kind)) {
                (Naming::Name | Naming::NameAndPath, Some(ExprKind::Ident(n))) => n.clone(),
                (Naming::Str, Some(ExprKind::Str { value, .. })) => value.clone(),
                (Naming::Singleton, _) => spec.context.to_string(),
                _ => continue,
            };
            if !subsequence(&q, &name.to_lowercase()) {
                continue;
            }
            out.push(WorkspaceSymbol {
                name,
                kind: symbol_kind(d, true),
                tags: None,
                container_name: Some(spec.context.to_string()),
                location: OneOf::Left(Location { uri: uri.clone(), range: idx.range(d.span) }),
                data: None,
            });
        }
    }
    out
}

fn subsequence(q: &str, s: &str) -> bool {
    let mut it = s.chars();
    q.chars().all(|c| it.any(|x| x == c))
}

/// Folding ranges: multi-line blocks (up to the line before their `}`) and
/// runs of two or more comment lines.
pub fn folding(ast: &Ast, text: &str) -> Vec<FoldingRange> {
    let idx = LineIndex::new(text);
    let mut out = Vec::new();
    fn blocks(items: &[Directive], text: &str, idx: &LineIndex, out: &mut Vec<FoldingRange>) {
        for d in items {
            let Some(b) = &d.block else { continue };
            let start = idx.line_of(d.span.start as usize);
            let end_line = idx.line_of(b.span.end as usize);
            let end = if crate::syntax::is_closed(b, text) { end_line.saturating_sub(1) } else { end_line };
            if end > start {
                out.push(FoldingRange {
                    start_line: start as u32,
                    end_line: end as u32,
                    kind: Some(FoldingRangeKind::Region),
                    ..Default::default()
                });
            }
            blocks(&b.items, text, idx, out);
        }
    }
    blocks(&ast.items, text, &idx, &mut out);
    let mut run: Option<(usize, usize)> = None;
    let own_line = |start: usize| text[..start].rsplit('\n').next().is_some_and(|l| l.trim().is_empty());
    for c in &ast.comments {
        let start = c.span.start as usize;
        if !own_line(start) {
            continue;
        }
        let line = idx.line_of(start);
        run = match run {
            Some((first, last)) if last + 1 == line => Some((first, line)),
            Some((first, last)) => {
                push_comment_run(first, last, &mut out);
                Some((line, line))
            }
            None => Some((line, line)),
        };
    }
    if let Some((first, last)) = run {
        push_comment_run(first, last, &mut out);
    }
    out
}

/// A run of comment lines folds when it spans at least two lines.
fn push_comment_run(first: usize, last: usize, out: &mut Vec<FoldingRange>) {
    if last > first {
        out.push(FoldingRange {
            start_line: first as u32,
            end_line: last as u32,
            kind: Some(FoldingRangeKind::Comment),
            ..Default::default()
        });
    }
}
