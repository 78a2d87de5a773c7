//! The synchronous main loop: document notifications update the world and
//! schedule a debounced re-check; every request is answered, after any
//! pending re-check, from the latest state.

use crate::diagnostics;
use crate::position::{uri_to_path, LineIndex};
use crate::world::{Doc, World};
use crate::{completion, hover, nav, tokens};
use hapax_lang::check::Checked;
use hapax_lang::schema::RefKind;
use hapax_lang::span::{FileId, Span};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response, ResponseError};
use lsp_types::notification::{Notification as _, PublishDiagnostics};
use lsp_types::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings the client may pass as `initializationOptions`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The shortest time between two re-checks while changes keep coming.
    pub debounce: Duration,
    /// Whether the client accepts snippets in completions.
    pub snippets: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { debounce: Duration::from_millis(50), snippets: false }
    }
}

/// The capabilities this server announces.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::INCREMENTAL),
            save: Some(TextDocumentSyncSaveOptions::Supported(true)),
            ..Default::default()
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "\"".into(), " ".into()]),
            ..Default::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: tokens::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: None,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The server: the world, the pending re-check and what was published.
pub struct Server {
    conn: Connection,
    world: World,
    config: Config,
    /// Paths changed since the last check.
    dirty: Vec<PathBuf>,
    /// Every set must be re-checked (a file changed on disk).
    dirty_all: bool,
    /// When the pending re-check runs.
    deadline: Option<Instant>,
    /// When the last re-check ended.
    last_check: Option<Instant>,
    published: BTreeMap<PathBuf, Vec<lsp_types::Diagnostic>>,
    shutdown: bool,
}

type Handled<R> = Result<R, ResponseError>;

fn error(code: ErrorCode, message: impl Into<String>) -> ResponseError {
    ResponseError { code: code as i32, message: message.into(), data: None }
}

impl Server {
    pub fn new(conn: Connection, config: Config, roots: Vec<PathBuf>, refused: Vec<hapax_lang::Refused>) -> Self {
        let world = World { roots, refused, ..Default::default() };
        Server {
            conn,
            world,
            config,
            dirty: Vec::new(),
            dirty_all: false,
            deadline: None,
            last_check: None,
            published: BTreeMap::new(),
            shutdown: false,
        }
    }

    /// Runs until `exit` or until the client goes away. Returns whether
    /// `shutdown` came first.
    pub fn run(mut self) -> bool {
        loop {
            let msg = match self.deadline {
                Some(at) => match self.conn.receiver.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(m) => m,
                    Err(e) if e.is_timeout() => {
                        self.flush();
                        continue;
                    }
                    Err(_) => break,
                },
                None => match self.conn.receiver.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            match msg {
                Message::Request(req) => {
                    let resp = self.request(req);
                    self.send(resp.into());
                }
                Message::Notification(n) => {
                    if n.method == "exit" {
                        break;
                    }
                    let method = n.method.clone();
                    if std::panic::catch_unwind(AssertUnwindSafe(|| self.notification(n))).is_err() {
                        self.log(&format!("hapax lsp: internal error while handling `{method}`"));
                    }
                }
                Message::Response(_) => {}
            }
        }
        self.shutdown
    }

    fn send(&self, msg: Message) {
        // A closed connection ends the loop at the next receive.
        let _ = self.conn.sender.send(msg);
    }

    fn log(&self, message: &str) {
        let params = LogMessageParams { typ: MessageType::ERROR, message: message.into() };
        self.send(Notification::new("window/logMessage".into(), params).into());
    }

    // ------------------------------------------------------------ documents

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    return;
                };
                let path = uri_to_path(&p.text_document.uri);
                let doc =
                    Doc { uri: p.text_document.uri, text: p.text_document.text, version: p.text_document.version };
                self.world.docs.map.insert(path.clone(), doc);
                self.dirty.push(path);
                self.flush();
            }
            "textDocument/didChange" => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    return;
                };
                let path = uri_to_path(&p.text_document.uri);
                self.world.docs.apply(&path, p.text_document.version, p.content_changes);
                self.dirty.push(path);
                self.schedule();
            }
            "textDocument/didClose" => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return;
                };
                let path = uri_to_path(&p.text_document.uri);
                self.world.docs.map.remove(&path);
                self.dirty.push(path);
                self.flush();
            }
            "textDocument/didSave" | "workspace/didChangeWatchedFiles" => {
                self.dirty_all = true;
                self.schedule();
            }
            _ => {}
        }
    }

    /// Schedules the re-check. Changes that are already queued are applied
    /// first and checked together; after that a change is checked at once,
    /// unless the last check ended less than the debounce time ago: then it
    /// waits for the rest of that window, gathering the changes that come
    /// in it. So a lone edit costs only the check, and a burst of typing
    /// costs one check per window.
    fn schedule(&mut self) {
        let now = Instant::now();
        let at = self.last_check.map_or(now, |t| (t + self.config.debounce).max(now));
        self.deadline = Some(at);
    }

    /// Runs the pending re-check, if any, and publishes.
    fn flush(&mut self) {
        if self.dirty.is_empty() && !self.dirty_all {
            return;
        }
        self.deadline = None;
        let changed = std::mem::take(&mut self.dirty);
        if std::mem::take(&mut self.dirty_all) {
            self.world.recheck(None);
        } else {
            self.world.recheck(Some(&changed));
        }
        self.publish(&changed);
        self.last_check = Some(Instant::now());
    }

    /// Publishes what changed, always for the `force`d files, and clears
    /// files that no longer belong to any checked set.
    fn publish(&mut self, force: &[PathBuf]) {
        let plan = diagnostics::plan(&self.world);
        for (path, (uri, diags)) in &plan {
            if force.contains(path) || self.published.get(path) != Some(diags) {
                let version = self.world.docs.map.get(path).map(|d| d.version);
                let params = PublishDiagnosticsParams { uri: uri.clone(), diagnostics: diags.clone(), version };
                self.send(Notification::new(PublishDiagnostics::METHOD.into(), params).into());
            }
        }
        for path in self.published.keys() {
            if !plan.contains_key(path) {
                if let Some(uri) = self.world.docs.uri(path) {
                    let params = PublishDiagnosticsParams { uri, diagnostics: Vec::new(), version: None };
                    self.send(Notification::new(PublishDiagnostics::METHOD.into(), params).into());
                }
            }
        }
        self.published = plan.into_iter().map(|(p, (_, d))| (p, d)).collect();
    }

    // ------------------------------------------------------------- requests

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        if req.method == "shutdown" {
            self.shutdown = true;
            return Response::new_ok(id, ());
        }
        if self.shutdown {
            return Response {
                id,
                result: None,
                error: Some(error(ErrorCode::InvalidRequest, "the server is shutting down")),
            };
        }
        let method = req.method.clone();
        match std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.flush();
            self.dispatch(req)
        })) {
            Ok(resp) => resp,
            Err(_) => Response {
                id,
                result: None,
                error: Some(error(ErrorCode::InternalError, format!("internal error while handling `{method}`"))),
            },
        }
    }

    fn dispatch(&mut self, req: Request) -> Response {
        match req.method.as_str() {
            "textDocument/completion" => self.handle(req, Self::completion),
            "textDocument/hover" => self.handle(req, Self::hover),
            "textDocument/definition" => self.handle(req, Self::definition),
            "textDocument/references" => self.handle(req, Self::references),
            "textDocument/prepareRename" => self.handle(req, Self::prepare_rename),
            "textDocument/rename" => self.handle(req, Self::rename),
            "textDocument/documentSymbol" => self.handle(req, Self::document_symbol),
            "workspace/symbol" => self.handle(req, Self::workspace_symbol),
            "textDocument/foldingRange" => self.handle(req, Self::folding_range),
            "textDocument/formatting" => self.handle(req, Self::formatting),
            "textDocument/semanticTokens/full" => self.handle(req, Self::semantic_tokens),
            "textDocument/codeAction" => self.handle(req, Self::code_action),
            _ => Response {
                id: req.id,
                result: None,
                error: Some(error(ErrorCode::MethodNotFound, format!("unknown method `{}`", req.method))),
            },
        }
    }

    fn handle<P: DeserializeOwned, R: Serialize>(
        &mut self,
        req: Request,
        f: fn(&mut Self, P) -> Handled<R>,
    ) -> Response {
        let params = match serde_json::from_value::<P>(req.params) {
            Ok(p) => p,
            Err(e) => {
                return Response {
                    id: req.id,
                    result: None,
                    error: Some(error(ErrorCode::InvalidParams, e.to_string())),
                }
            }
        };
        match f(self, params)
            .and_then(|r| serde_json::to_value(r).map_err(|e| error(ErrorCode::InternalError, e.to_string())))
        {
            Ok(v) => Response { id: req.id, result: Some(v), error: None },
            Err(e) => Response { id: req.id, result: None, error: Some(e) },
        }
    }

    /// The check, file and byte offset of a position.
    fn locate(&self, uri: &Uri, pos: Position) -> Option<(Arc<Checked>, FileId, usize)> {
        let (set, fid) = self.world.analysis(&uri_to_path(uri))?;
        let offset = LineIndex::new(&set.sources.get(fid).text).offset(pos);
        Some((set, fid, offset))
    }

    fn completion(&mut self, p: CompletionParams) -> Handled<Option<CompletionResponse>> {
        let pos = p.text_document_position;
        let Some((set, fid, offset)) = self.locate(&pos.text_document.uri, pos.position) else {
            return Ok(None);
        };
        let path = uri_to_path(&pos.text_document.uri);
        let sets = self.world.sets_with(&path);
        let names = |kind: RefKind| -> Vec<(String, String)> {
            let mut out: Vec<(String, String)> = Vec::new();
            for (s, _) in &sets {
                for (d, _) in s.symbols.decls.iter().filter(|(d, _)| d.kind == kind) {
                    if out.iter().any(|(n, _)| *n == d.name) {
                        continue;
                    }
                    let file = s.sources.get(d.loc.file);
                    let (line, _) = file.human_line_col(d.loc.span.start as usize);
                    let fname = file.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                    out.push((d.name.clone(), format!("{} · {fname}:{line}", kind.keyword())));
                }
            }
            out.sort();
            out
        };
        let after_space = p.context.as_ref().and_then(|c| c.trigger_character.as_deref()) == Some(" ");
        let Some(ast) = set.asts.get(fid.0 as usize) else {
            return Ok(None);
        };
        let req = completion::Request {
            text: &set.sources.get(fid).text,
            ast,
            offset,
            names: &names,
            snippets: self.config.snippets,
            after_space,
        };
        let items = completion::complete(&req);
        Ok(Some(CompletionResponse::Array(items)))
    }

    fn hover(&mut self, p: HoverParams) -> Handled<Option<Hover>> {
        let pos = p.text_document_position_params;
        let Some((set, fid, offset)) = self.locate(&pos.text_document.uri, pos.position) else {
            return Ok(None);
        };
        let Some((value, span)) = hover::hover(&set, fid, offset) else {
            return Ok(None);
        };
        let range = LineIndex::new(&set.sources.get(fid).text).range(span);
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }),
            range: Some(range),
        }))
    }

    fn definition(&mut self, p: GotoDefinitionParams) -> Handled<Option<GotoDefinitionResponse>> {
        let pos = p.text_document_position_params;
        let Some((set, fid, offset)) = self.locate(&pos.text_document.uri, pos.position) else {
            return Ok(None);
        };
        Ok(nav::definition(&self.world, &set, fid, offset).map(GotoDefinitionResponse::Scalar))
    }

    fn references(&mut self, p: ReferenceParams) -> Handled<Option<Vec<Location>>> {
        let pos = p.text_document_position;
        let Some((_, _, offset)) = self.locate(&pos.text_document.uri, pos.position) else {
            return Ok(None);
        };
        let path = uri_to_path(&pos.text_document.uri);
        let Some((_, occs)) = nav::occurrences(&self.world, &path, offset) else {
            return Ok(None);
        };
        let include = p.context.include_declaration;
        Ok(Some(occs.iter().filter(|o| include || !o.is_decl).filter_map(|o| o.location(&self.world)).collect()))
    }

    fn prepare_rename(&mut self, p: TextDocumentPositionParams) -> Handled<Option<PrepareRenameResponse>> {
        let Some((set, fid, offset)) = self.locate(&p.text_document.uri, p.position) else {
            return Ok(None);
        };
        let Some(at) = nav::symbol_at(&set, fid, offset) else {
            return Err(error(ErrorCode::RequestFailed, "there is no declared name here to rename"));
        };
        let range = LineIndex::new(&set.sources.get(fid).text).range(at.loc.span);
        Ok(Some(PrepareRenameResponse::RangeWithPlaceholder { range, placeholder: at.name }))
    }

    fn rename(&mut self, p: RenameParams) -> Handled<Option<WorkspaceEdit>> {
        let pos = p.text_document_position;
        let Some((_, _, offset)) = self.locate(&pos.text_document.uri, pos.position) else {
            return Ok(None);
        };
        let path = uri_to_path(&pos.text_document.uri);
        nav::rename(&self.world, &path, offset, &p.new_name).map(Some).map_err(|m| error(ErrorCode::RequestFailed, m))
    }

    fn document_symbol(&mut self, p: DocumentSymbolParams) -> Handled<Option<DocumentSymbolResponse>> {
        let Some((set, fid)) = self.world.analysis(&uri_to_path(&p.text_document.uri)) else {
            return Ok(None);
        };
        let Some(ast) = set.asts.get(fid.0 as usize) else {
            return Ok(None);
        };
        let symbols = nav::document_symbols(ast, &set.sources.get(fid).text);
        Ok(Some(DocumentSymbolResponse::Nested(symbols)))
    }

    fn workspace_symbol(&mut self, p: WorkspaceSymbolParams) -> Handled<Option<WorkspaceSymbolResponse>> {
        Ok(Some(WorkspaceSymbolResponse::Nested(nav::workspace_symbols(&self.world, &p.query))))
    }

    fn folding_range(&mut self, p: FoldingRangeParams) -> Handled<Option<Vec<FoldingRange>>> {
        let Some((set, fid)) = self.world.analysis(&uri_to_path(&p.text_document.uri)) else {
            return Ok(None);
        };
        let Some(ast) = set.asts.get(fid.0 as usize) else {
            return Ok(None);
        };
        Ok(Some(nav::folding(ast, &set.sources.get(fid).text)))
    }

    fn formatting(&mut self, p: DocumentFormattingParams) -> Handled<Option<Vec<TextEdit>>> {
        let Some(text) = self.world.text(&uri_to_path(&p.text_document.uri)) else {
            return Ok(None);
        };
        match hapax_lang::fmt::format(&text) {
            Ok(new_text) if new_text != text => {
                Ok(Some(vec![TextEdit { range: LineIndex::new(&text).whole(), new_text }]))
            }
            // Already formatted, or syntax errors: nothing is changed.
            _ => Ok(Some(Vec::new())),
        }
    }

    fn semantic_tokens(&mut self, p: SemanticTokensParams) -> Handled<Option<SemanticTokensResult>> {
        let Some((set, fid)) = self.world.analysis(&uri_to_path(&p.text_document.uri)) else {
            return Ok(None);
        };
        let data = tokens::tokens(&set, fid);
        Ok(Some(SemanticTokensResult::Tokens(SemanticTokens { result_id: None, data })))
    }

    #[expect(
        clippy::mutable_key_type,
        reason = "lsp-types keys `WorkspaceEdit::changes` by `Uri`, which is never mutated once built"
    )]
    fn code_action(&mut self, p: CodeActionParams) -> Handled<Option<CodeActionResponse>> {
        let Some((set, fid)) = self.world.analysis(&uri_to_path(&p.text_document.uri)) else {
            return Ok(None);
        };
        let text = &set.sources.get(fid).text;
        let (start, end) = LineIndex::new(text).span(p.range);
        let mut indexes = diagnostics::Indexes::default();
        let mut out = Vec::new();
        for d in set.diags.0.iter().filter(|d| d.loc.file == fid && !d.fixes.is_empty()) {
            let span: Span = d.loc.span;
            if (span.start as usize) > end || (span.end as usize) < start {
                continue;
            }
            let diag = diagnostics::to_lsp(d, &set, &self.world, &mut indexes);
            for (i, fix) in d.fixes.iter().enumerate() {
                let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
                for (loc, new_text) in &fix.edits {
                    let Some(uri) = self.world.docs.uri(&set.sources.get(loc.file).path) else {
                        continue;
                    };
                    let range = indexes.range(&set, *loc);
                    changes.entry(uri).or_default().push(TextEdit { range, new_text: new_text.clone() });
                }
                out.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diag.clone()]),
                    edit: Some(WorkspaceEdit { changes: Some(changes), ..Default::default() }),
                    is_preferred: Some(i == 0 && fix.title.starts_with("change to")),
                    ..Default::default()
                }));
            }
        }
        Ok(Some(out))
    }
}

/// Reads the client's settings from `initialize`.
pub fn config_from(params: &InitializeParams) -> (Config, Vec<PathBuf>) {
    let snippets = params
        .capabilities
        .text_document
        .as_ref()
        .and_then(|t| t.completion.as_ref())
        .and_then(|c| c.completion_item.as_ref())
        .and_then(|i| i.snippet_support)
        .unwrap_or(false);
    let mut config = Config { snippets, ..Config::default() };
    if let Some(ms) = params.initialization_options.as_ref().and_then(|o| o.get("debounceMs")).and_then(|v| v.as_u64())
    {
        config.debounce = Duration::from_millis(ms.min(5_000));
    }
    let mut roots: Vec<PathBuf> = params.workspace_folders.iter().flatten().map(|f| uri_to_path(&f.uri)).collect();
    #[allow(deprecated, reason = "older clients send only `rootUri`")]
    if roots.is_empty() {
        if let Some(uri) = &params.root_uri {
            roots.push(uri_to_path(uri));
        }
    }
    (config, roots)
}
