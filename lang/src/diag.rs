//! Diagnostics: what the checker reports, how it is rendered for people
//! (miette) and for machines (JSON lines).

use crate::codes::Code;
use crate::span::{FileId, Loc, SourceMap, Span};

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A text edit that fixes a diagnostic, used by editor code actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<(Loc, String)>,
}

/// One finding about a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub loc: Loc,
    /// One line, lowercase, user input in backticks, no trailing period.
    pub message: String,
    /// The text under the caret, when it says more than the message.
    pub label: Option<String>,
    pub help: Option<String>,
    /// Other places that explain this one (the first declaration of a
    /// duplicate, the start of a cycle).
    pub related: Vec<(Loc, String)>,
    pub fixes: Vec<Fix>,
}

impl Diagnostic {
    pub fn new(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            loc: Loc { file, span },
            message: message.into(),
            label: None,
            help: None,
            related: Vec::new(),
            fixes: Vec::new(),
        }
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    pub fn related(mut self, loc: Loc, text: impl Into<String>) -> Self {
        self.related.push((loc, text.into()));
        self
    }
    pub fn fix(mut self, title: impl Into<String>, loc: Loc, text: impl Into<String>) -> Self {
        self.fixes.push(Fix { title: title.into(), edits: vec![(loc, text.into())] });
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Diagnostics collected while checking, in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
    pub fn errors(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }
    pub fn warnings(&self) -> usize {
        self.0.len() - self.errors()
    }
    /// Sorts by file, position and code, and removes exact repeats, so that
    /// output is stable.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (a.loc.file, a.loc.span.start, a.loc.span.end, a.code).cmp(&(
                b.loc.file,
                b.loc.span.start,
                b.loc.span.end,
                b.code,
            ))
        });
        self.0.dedup_by(|a, b| a.code == b.code && a.loc == b.loc && a.message == b.message);
    }
}

/// Renders one diagnostic like a compiler does: severity and code, the
/// message, `file:line:col`, the source line with the span underlined, the
/// related places and the help.
pub fn render(d: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    let paint = |code: &str, text: &str| if color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() };
    let (sev, sev_color) = match d.severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
    };
    let mut out = String::new();
    out.push_str(&paint(sev_color, &format!("{sev}[{}]", d.code.as_str())));
    out.push_str(&paint("1", &format!(": {}", d.message)));
    out.push('\n');
    let mut places: Vec<(Loc, Option<&str>, bool)> = vec![(d.loc, d.label.as_deref(), true)];
    places.extend(d.related.iter().map(|(loc, text)| (*loc, Some(text.as_str()), false)));
    let width = places
        .iter()
        .map(|(loc, _, _)| sources.get(loc.file).human_line_col(loc.span.start as usize).0.to_string().len())
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(width);
    for (loc, label, primary) in places {
        let file = sources.get(loc.file);
        let (line, col) = file.human_line_col(loc.span.start as usize);
        if !primary {
            out.push_str(&paint("1;36", "note"));
            out.push_str(&format!(": {}\n", label.unwrap_or("")));
        }
        out.push_str(&format!("{pad}{} {}:{}:{}\n", paint("1;34", "-->"), file.path.display(), line, col));
        let (l0, _) = file.line_col(loc.span.start as usize);
        let line_start = file.offset(l0, 0);
        let line_end = file.line_end(l0);
        let start = (loc.span.start as usize).clamp(line_start, line_end);
        let end = (loc.span.end as usize).clamp(start, line_end);
        // Show at most a window of a very long line, so that output stays
        // proportional to the number of diagnostics.
        let (shown_start, shown_end) = window(&file.text, line_start, line_end, start);
        let text = file.text.get(shown_start..shown_end).unwrap_or("").trim_end_matches('\r');
        let bar = paint("1;34", "|");
        out.push_str(&format!("{pad} {bar}\n"));
        out.push_str(&format!("{} {bar} {}\n", paint("1;34", &format!("{line:>width$}")), text.replace('\t', " ")));
        let end = end.min(shown_end);
        let before = file.text.get(shown_start..start).map_or(0, |s| s.chars().count());
        let len = file.text.get(start..end).map_or(0, |s| s.chars().count()).clamp(1, 120);
        let marks = if primary { "^".repeat(len) } else { "-".repeat(len) };
        let mut under = format!("{}{}", " ".repeat(before), paint(if primary { sev_color } else { "1;36" }, &marks));
        if primary {
            if let Some(label) = label {
                under.push(' ');
                under.push_str(&paint(sev_color, label));
            }
        }
        out.push_str(&format!("{pad} {bar} {under}\n"));
    }
    if let Some(help) = &d.help {
        out.push_str(&format!("{pad} {} {}: {help}\n", paint("1;34", "="), paint("1", "help")));
    }
    out.push('\n');
    out
}

/// The part of a line to print: all of it when short, else about 60
/// characters before the span and 100 after, on character boundaries.
fn window(text: &str, line_start: usize, line_end: usize, at: usize) -> (usize, usize) {
    if line_end - line_start <= 200 {
        return (line_start, line_end);
    }
    let mut s = at.saturating_sub(60).max(line_start);
    while !text.is_char_boundary(s) {
        s -= 1;
    }
    let mut e = (at + 100).min(line_end);
    while !text.is_char_boundary(e) {
        e += 1;
    }
    (s, e)
}

/// JSON object for `hapax check --format json`.
pub fn to_json(d: &Diagnostic, sources: &SourceMap) -> serde_json::Value {
    let file = sources.get(d.loc.file);
    let (line, column) = file.human_line_col(d.loc.span.start as usize);
    let (end_line, end_column) = file.human_line_col(d.loc.span.end as usize);
    serde_json::json!({
        "code": d.code.as_str(),
        "severity": d.severity.as_str(),
        "file": file.path.display().to_string(),
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "message": d.message,
        "help": d.help,
    })
}
