//! The server's state: the open documents, which overlay the disk, and the
//! last check of each open document's import set.

use crate::position::{path_to_uri, LineIndex};
use hapax_lang::check::Checked;
use hapax_lang::span::FileId;
use hapax_lang::{Mode, RealFs, Vfs};
use lsp_types::{TextDocumentContentChangeEvent, Uri};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One open editor buffer.
#[derive(Debug, Clone)]
pub struct Doc {
    pub uri: Uri,
    pub text: String,
    pub version: i32,
}

/// The open documents, by normalized path.
#[derive(Debug, Default)]
pub struct Docs {
    pub map: HashMap<PathBuf, Doc>,
}

impl Docs {
    /// Applies an editor's changes in order; a change without a range
    /// replaces the whole text.
    pub fn apply(&mut self, path: &Path, version: i32, changes: Vec<TextDocumentContentChangeEvent>) {
        let Some(doc) = self.map.get_mut(path) else {
            return;
        };
        for change in changes {
            match change.range {
                None => doc.text = change.text,
                Some(range) => {
                    let (start, end) = LineIndex::new(&doc.text).span(range);
                    doc.text.replace_range(start..end, &change.text);
                }
            }
        }
        doc.version = version;
    }

    /// The URI to report a path under: the editor's own for open buffers.
    pub fn uri(&self, path: &Path) -> Option<Uri> {
        match self.map.get(path) {
            Some(d) => Some(d.uri.clone()),
            None => path_to_uri(path),
        }
    }
}

/// Open buffers first, then the real file system.
pub struct Overlay<'a> {
    pub docs: &'a Docs,
}

impl Vfs for Overlay<'_> {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        match self.docs.map.get(path) {
            Some(d) => Ok(d.text.clone()),
            None => RealFs.read(path),
        }
    }
    fn exists(&self, path: &Path) -> bool {
        self.docs.map.contains_key(path) || RealFs.exists(path)
    }
    fn env(&self, name: &str) -> Option<String> {
        RealFs.env(name)
    }
    fn list_dir(&self, path: &Path) -> Option<Vec<PathBuf>> {
        let mut files = RealFs.list_dir(path);
        for p in self.docs.map.keys() {
            if p.parent() == Some(path) && p.extension().is_some_and(|e| e == "hapax") {
                let list = files.get_or_insert_with(Vec::new);
                if !list.contains(p) {
                    list.push(p.clone());
                }
            }
        }
        if let Some(list) = &mut files {
            list.sort();
        }
        files
    }
}

/// Whether an open document is checked as Hapax, the root of its own set.
/// A Cedar file (`authz { cedar "..." }`) is not: its buffer overlays the
/// disk, and it is checked, as Cedar, with the policies that name it.
fn is_hapax(path: &Path) -> bool {
    path.extension().is_none_or(|e| e != "cedar")
}

/// Everything the handlers read.
#[derive(Default)]
pub struct World {
    pub docs: Docs,
    /// The check of each open document's import set, by the document's path.
    pub sets: BTreeMap<PathBuf, Arc<Checked>>,
    /// Workspace folders, for workspace symbols.
    pub roots: Vec<PathBuf>,
    /// What `hapax serve` refuses: warned about, as `hapax check` does.
    pub refused: Vec<hapax_lang::Refused>,
}

impl World {
    /// Loads and checks the import set of `root` as `hapax check` would.
    pub fn check_set(&self, root: &Path) -> Option<Checked> {
        let vfs = Overlay { docs: &self.docs };
        let mut checked = hapax_lang::check_paths(&[root.to_path_buf()], &vfs, Mode::Check).ok()?;
        hapax_lang::refuse(&mut checked, &self.refused, Mode::Check);
        Some(checked)
    }

    /// Re-checks the sets of the open documents whose set contains any of
    /// `changed` (every open document when `changed` is `None`), and drops
    /// the sets of closed documents.
    pub fn recheck(&mut self, changed: Option<&[PathBuf]>) {
        self.sets.retain(|root, _| self.docs.map.contains_key(root));
        let mut roots: Vec<PathBuf> = self.docs.map.keys().filter(|p| is_hapax(p)).cloned().collect();
        roots.sort();
        for root in roots {
            let stale = match (changed, self.sets.get(&root)) {
                (None, _) | (_, None) => true,
                (Some(paths), Some(set)) => paths.iter().any(|p| set.sources.find(p).is_some()),
            };
            if stale {
                match self.check_set(&root) {
                    Some(c) => {
                        self.sets.insert(root, Arc::new(c));
                    }
                    None => {
                        self.sets.remove(&root);
                    }
                }
            }
        }
    }

    /// The check to answer a question about `path` from: its own set when
    /// it is open, else the first set that holds it, else a fresh check.
    pub fn analysis(&self, path: &Path) -> Option<(Arc<Checked>, FileId)> {
        if let Some(set) = self.sets.get(path) {
            if let Some(id) = set.sources.find(path) {
                return Some((set.clone(), id));
            }
        }
        for set in self.sets.values() {
            if let Some(id) = set.sources.find(path) {
                return Some((set.clone(), id));
            }
        }
        if !is_hapax(path) {
            return None;
        }
        let c = self.check_set(path)?;
        let id = c.sources.find(path)?;
        Some((Arc::new(c), id))
    }

    /// Every checked set that holds `path`, the most relevant first.
    pub fn sets_with(&self, path: &Path) -> Vec<(Arc<Checked>, FileId)> {
        let mut out = Vec::new();
        if let Some((c, id)) = self.analysis(path) {
            out.push((c, id));
        }
        for set in self.sets.values() {
            if out.iter().any(|(c, _)| Arc::ptr_eq(c, set)) {
                continue;
            }
            if let Some(id) = set.sources.find(path) {
                out.push((set.clone(), id));
            }
        }
        out
    }

    /// The text of a file as the editor sees it.
    pub fn text(&self, path: &Path) -> Option<String> {
        Overlay { docs: &self.docs }.read(path).ok()
    }
}
