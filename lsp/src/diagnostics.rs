//! The compiler's diagnostics as LSP diagnostics, and which file gets which.

use crate::position::LineIndex;
use crate::world::World;
use hapax_lang::check::Checked;
use hapax_lang::codes::Code;
use hapax_lang::diag::{Diagnostic, Severity};
use hapax_lang::span::{FileId, Loc};
use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, Location, NumberOrString};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// Converts one diagnostic of `checked`; `indexes` caches line indexes.
pub fn to_lsp<'a>(
    d: &Diagnostic,
    checked: &'a Checked,
    world: &World,
    indexes: &mut Indexes<'a>,
) -> lsp_types::Diagnostic {
    let range = indexes.range(checked, d.loc);
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .related
        .iter()
        .filter_map(|(loc, text)| {
            let uri = world.docs.uri(&checked.sources.get(loc.file).path)?;
            Some(DiagnosticRelatedInformation {
                location: Location { uri, range: indexes.range(checked, *loc) },
                message: text.clone(),
            })
        })
        .collect();
    lsp_types::Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        code_description: None,
        source: Some("hapax".into()),
        message,
        related_information: if related.is_empty() { None } else { Some(related) },
        tags: if d.code == Code::Unused { Some(vec![DiagnosticTag::UNNECESSARY]) } else { None },
        data: None,
    }
}

/// Line indexes of the files of checked sets, built on first use.
#[derive(Default)]
pub struct Indexes<'a> {
    map: HashMap<(usize, FileId), LineIndex<'a>>,
}

impl<'a> Indexes<'a> {
    pub fn range(&mut self, checked: &'a Checked, loc: Loc) -> lsp_types::Range {
        // Keyed by the set's address too, so one cache can serve several sets.
        let key = (checked as *const Checked as usize, loc.file);
        self.map.entry(key).or_insert_with(|| LineIndex::new(&checked.sources.get(loc.file).text)).range(loc.span)
    }
}

/// The diagnostics of every file in every checked set. A file gets those of
/// its own set when it is open (what `hapax check FILE` prints), otherwise
/// those of the first open set that imports it.
pub fn plan(world: &World) -> BTreeMap<PathBuf, (lsp_types::Uri, Vec<lsp_types::Diagnostic>)> {
    let mut out: BTreeMap<PathBuf, (lsp_types::Uri, Vec<lsp_types::Diagnostic>)> = BTreeMap::new();
    let mut owner: HashMap<PathBuf, &PathBuf> = HashMap::new();
    for (root, set) in &world.sets {
        for (_, file) in set.sources.iter() {
            let own = world.sets.contains_key(&file.path);
            if (own && &file.path == root) || (!own && !owner.contains_key(&file.path)) {
                owner.insert(file.path.clone(), root);
            }
        }
    }
    let mut indexes = Indexes::default();
    for (path, root) in owner {
        let Some(set) = world.sets.get(root) else {
            continue;
        };
        let Some(id) = set.sources.find(&path) else {
            continue;
        };
        let Some(uri) = world.docs.uri(&path) else {
            continue;
        };
        let diags =
            set.diags.0.iter().filter(|d| d.loc.file == id).map(|d| to_lsp(d, set, world, &mut indexes)).collect();
        out.insert(path, (uri, diags));
    }
    out
}
