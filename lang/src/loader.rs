//! Loads a policy set: the given files and folders, and every file they
//! import, each once. Import cycles are reported.

use crate::codes::Code;
use crate::diag::{Diagnostic, Diagnostics};
use crate::span::{FileId, SourceMap, Span};
use crate::syntax::ast::Ast;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Where the compiler reads files and environment variables. The CLI uses
/// the real ones; the language server overlays open editor buffers; tests
/// use fixed maps.
pub trait Vfs {
    fn read(&self, path: &Path) -> std::io::Result<String>;
    fn exists(&self, path: &Path) -> bool {
        self.read(path).is_ok()
    }
    fn env(&self, name: &str) -> Option<String>;
    /// The `*.hapax` files directly in a folder, sorted; `None` when `path`
    /// is not a folder.
    fn list_dir(&self, path: &Path) -> Option<Vec<PathBuf>>;
}

/// The real file system and process environment.
pub struct RealFs;

impl Vfs for RealFs {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn list_dir(&self, path: &Path) -> Option<Vec<PathBuf>> {
        if !path.is_dir() {
            return None;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "hapax") && p.is_file())
            .collect();
        files.sort();
        Some(files)
    }
}

/// Joins and removes `.` and `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// A loaded, parsed policy set.
#[derive(Debug, Default)]
pub struct Loaded {
    pub sources: SourceMap,
    /// One tree per file, indexed by `FileId`.
    pub asts: Vec<Ast>,
    pub diags: Diagnostics,
}

/// An I/O problem with one of the paths named on the command line.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{path}`: {message}")]
pub struct LoadError {
    pub path: PathBuf,
    pub message: String,
}

/// Loads the files and folders named by `roots` and their imports.
pub fn load(roots: &[PathBuf], vfs: &dyn Vfs) -> Result<Loaded, LoadError> {
    let mut files = Vec::new();
    for root in roots {
        match vfs.list_dir(root) {
            Some(list) => files.extend(list),
            None => files.push(root.clone()),
        }
    }
    let mut loaded = Loaded::default();
    let mut by_path: HashMap<PathBuf, FileId> = HashMap::new();
    // (importer, import span, target)
    let mut edges: Vec<(FileId, Span, FileId)> = Vec::new();
    let mut queue: Vec<PathBuf> = Vec::new();
    for f in files {
        let f = normalize(&f);
        if by_path.contains_key(&f) {
            continue;
        }
        let text = vfs.read(&f).map_err(|e| LoadError { path: f.clone(), message: e.to_string() })?;
        let id = add_file(&mut loaded, &mut by_path, f, text);
        queue.push(loaded.sources.get(id).path.clone());
    }
    let mut next = 0;
    while next < loaded.asts.len() {
        let id = FileId(next as u32);
        next += 1;
        let dir = loaded.sources.get(id).dir().to_path_buf();
        let imports: Vec<(String, Span)> = loaded.asts[id.0 as usize]
            .items
            .iter()
            .filter(|d| d.key() == "import")
            .filter_map(|d| d.args.first().and_then(|a| a.value.as_str().map(|s| (s.to_string(), a.value.span))))
            .collect();
        for (rel, span) in imports {
            let target = normalize(&dir.join(&rel));
            let tid = match by_path.get(&target) {
                Some(&t) => t,
                None => match vfs.read(&target) {
                    Ok(text) => add_file(&mut loaded, &mut by_path, target, text),
                    Err(e) => {
                        loaded.diags.push(
                            Diagnostic::new(
                                Code::ImportNotFound,
                                id,
                                span,
                                format!("cannot import `{rel}`: {}", io_reason(&e)),
                            )
                            .help(if dir.as_os_str().is_empty() || dir == Path::new(".") {
                                "the path is relative to this file's folder, the current folder".to_string()
                            } else {
                                format!("the path is relative to this file's folder, `{}`", dir.display())
                            }),
                        );
                        continue;
                    }
                },
            };
            edges.push((id, span, tid));
        }
    }
    report_cycles(&mut loaded, &edges);
    Ok(loaded)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        _ => e.to_string(),
    }
}

fn add_file(loaded: &mut Loaded, by_path: &mut HashMap<PathBuf, FileId>, path: PathBuf, text: String) -> FileId {
    let id = loaded.sources.add(path.clone(), text);
    let (ast, diags) = crate::syntax::parse(id, &loaded.sources.get(id).text);
    loaded.asts.push(ast);
    for d in diags {
        loaded.diags.push(d);
    }
    by_path.insert(path, id);
    id
}

/// Reports each import that closes a cycle, once per cycle.
fn report_cycles(loaded: &mut Loaded, edges: &[(FileId, Span, FileId)]) {
    let n = loaded.asts.len();
    let mut adj: Vec<Vec<(Span, FileId)>> = vec![Vec::new(); n];
    for &(from, span, to) in edges {
        adj[from.0 as usize].push((span, to));
    }
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; n];
    let mut stack: Vec<FileId> = Vec::new();
    for start in 0..n {
        if state[start] == 0 {
            dfs(FileId(start as u32), &adj, &mut state, &mut stack, loaded);
        }
    }
}

fn dfs(f: FileId, adj: &[Vec<(Span, FileId)>], state: &mut [u8], stack: &mut Vec<FileId>, loaded: &mut Loaded) {
    state[f.0 as usize] = 1;
    stack.push(f);
    for &(span, to) in &adj[f.0 as usize] {
        match state[to.0 as usize] {
            0 => dfs(to, adj, state, stack, loaded),
            1 => {
                let pos = stack.iter().position(|&x| x == to).unwrap_or(0);
                let chain: Vec<String> = stack[pos..]
                    .iter()
                    .chain(std::iter::once(&to))
                    .map(|id| {
                        let p = &loaded.sources.get(*id).path;
                        p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
                    })
                    .collect();
                loaded.diags.push(
                    Diagnostic::new(Code::ImportCycle, f, span, format!("import cycle: {}", chain.join(" → ")))
                        .help("remove one of these imports; every file is loaded once, so a file never needs to import its importer"),
                );
            }
            _ => {}
        }
    }
    stack.pop();
    state[f.0 as usize] = 2;
}

/// An in-memory file system for tests and the language server.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    pub files: HashMap<PathBuf, String>,
    pub env: HashMap<String, String>,
}

impl Vfs for MemFs {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.files.get(path).cloned().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn list_dir(&self, path: &Path) -> Option<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = self.files.keys().filter(|p| p.parent() == Some(path)).cloned().collect();
        if v.is_empty() {
            return None;
        }
        v.sort();
        Some(v)
    }
}
