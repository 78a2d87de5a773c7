//! Reading typed values out of directive arguments, with a clear error for
//! each way a value can be wrong.

use super::Checker;
use crate::codes::Code;
use crate::diag::Diagnostic;
use crate::graph::{Calendar, Rate, Secret, Window};
use crate::span::{Loc, Span};
use crate::syntax::ast::{Directive, Expr, ExprKind, Unit};
use std::path::PathBuf;
use std::time::Duration;

impl Checker<'_> {
    pub(super) fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(super) fn error(&mut self, code: Code, span: Span, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::new(code, self.file, span, msg)
    }

    pub(super) fn loc(&self, span: Span) -> Loc {
        Loc { file: self.file, span }
    }

    /// Checks that a directive has between `min` and `max` arguments and
    /// returns them (possibly fewer than `min` after reporting).
    pub(super) fn args<'a>(&mut self, d: &'a Directive, min: usize, max: usize, usage: &str) -> Vec<&'a Expr> {
        let args: Vec<&Expr> = d.args.iter().map(|a| &a.value).collect();
        if args.len() < min {
            let msg = if args.is_empty() {
                format!("`{}` needs a value", d.key())
            } else {
                format!("`{}` needs {} value{}, found {}", d.key(), min, if min == 1 { "" } else { "s" }, args.len())
            };
            let e = self.error(Code::WrongArity, d.head_span(), msg).help(format!("write it as `{usage}`"));
            self.err(e);
        } else if args.len() > max {
            let extra = args[max].span.to(args[args.len() - 1].span);
            let e = self
                .error(
                    Code::WrongArity,
                    extra,
                    format!(
                        "`{}` takes {} value{}, found {}",
                        d.key(),
                        max,
                        if max == 1 { "" } else { "s" },
                        args.len()
                    ),
                )
                .label("unexpected")
                .help(format!("write it as `{usage}`"));
            self.err(e);
        }
        args
    }

    /// The single value of a setting.
    pub(super) fn one<'a>(&mut self, d: &'a Directive, usage: &str) -> Option<&'a Expr> {
        self.args(d, 1, 1, usage).into_iter().next()
    }

    fn wrong(&mut self, e: &Expr, want: &str, example: &str) {
        if let ExprKind::Number { raw, .. } = &e.kind {
            if crate::syntax::parse_number(raw).is_err() {
                // Its unit was already reported.
                return;
            }
        }
        let found = e.describe();
        let mut d = self.error(Code::WrongType, e.span, format!("expected {want}, found {found}"));
        d = match (&e.kind, want) {
            (ExprKind::Number { unit: Unit::None, raw, .. }, w) if w.contains("duration") => {
                d.help(format!("add a unit: `{raw}s`, `{raw}ms`, `{raw}m`"))
            }
            (ExprKind::Number { unit: Unit::None, raw, .. }, w) if w.contains("size") => {
                d.help(format!("add a unit: `{raw}MiB`, `{raw}KiB`"))
            }
            (ExprKind::Ident(n), w) if w.contains("string") => d.help(format!("quote it: `\"{n}\"`")),
            _ => d.help(format!("for example `{example}`")),
        };
        self.err(d);
    }

    pub(super) fn duration(&mut self, e: &Expr) -> Option<Duration> {
        match &e.kind {
            ExprKind::Number { value, unit: Unit::Duration, .. } => {
                Some(Duration::from_micros((value * 1000.0) as u64))
            }
            _ => {
                self.wrong(e, "a duration", "30s");
                None
            }
        }
    }

    /// `busy_poll`: `off`, or a duration of at most 1ms (a worker polls
    /// that long on a core of its own; longer only burns it).
    pub(super) fn busy_poll(&mut self, e: &Expr) -> Option<Duration> {
        if e.as_ident() == Some("off") {
            return Some(Duration::ZERO);
        }
        let t = self.duration(e)?;
        if t > Duration::from_millis(1) {
            let d = self
                .error(Code::BadValue, e.span, format!("`busy_poll` is at most 1ms, found {}", show(e)))
                .help("a worker keeps a core busy while it polls; 20us to 200us is enough to catch the next event");
            self.err(d);
            return None;
        }
        Some(t)
    }

    pub(super) fn size(&mut self, e: &Expr) -> Option<u64> {
        match &e.kind {
            ExprKind::Number { value, unit: Unit::Size, .. } => Some(*value as u64),
            _ => {
                self.wrong(e, "a size", "256MiB");
                None
            }
        }
    }

    /// A whole number, with or without a `k`/`M`/`G` multiplier.
    pub(super) fn count(&mut self, e: &Expr) -> Option<u64> {
        match &e.kind {
            ExprKind::Number { value, unit: Unit::None | Unit::Count, .. } if value.fract() == 0.0 && *value >= 0.0 => {
                Some(*value as u64)
            }
            ExprKind::Number { unit: Unit::None | Unit::Count, raw, .. } => {
                let d = self.error(Code::BadValue, e.span, format!("expected a whole number, found `{raw}`"));
                self.err(d);
                None
            }
            _ => {
                self.wrong(e, "a number", "64");
                None
            }
        }
    }

    /// A percentage as a fraction (`90%` → 0.9), within 0..=100%.
    pub(super) fn percent(&mut self, e: &Expr) -> Option<f64> {
        match &e.kind {
            ExprKind::Number { value, unit: Unit::Percent, raw } => {
                if !(0.0..=100.0).contains(value) {
                    let d = self.error(Code::BadValue, e.span, format!("`{raw}` is not between 0% and 100%"));
                    self.err(d);
                    return None;
                }
                Some(value / 100.0)
            }
            _ => {
                self.wrong(e, "a percentage", "90%");
                None
            }
        }
    }

    pub(super) fn string(&mut self, e: &Expr) -> Option<String> {
        match e.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.wrong(e, "a string", "\"...\"");
                None
            }
        }
    }

    pub(super) fn bool_word(&mut self, e: &Expr) -> Option<bool> {
        match e.as_ident() {
            Some("on" | "true" | "yes") => Some(true),
            Some("off" | "false" | "no") => Some(false),
            _ => {
                let d = self
                    .error(Code::UnknownEnum, e.span, format!("expected `on` or `off`, found {}", show(e)))
                    .help("write `on` or `off`");
                self.err(d);
                None
            }
        }
    }

    /// One of a fixed set of words, with did-you-mean.
    pub(super) fn word<'c>(&mut self, e: &Expr, choices: &[&'c str]) -> Option<&'c str> {
        if let Some(w) = e.as_ident() {
            if let Some(c) = choices.iter().find(|c| **c == w) {
                return Some(c);
            }
        }
        let list = choices.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
        let mut d = self.error(Code::UnknownEnum, e.span, format!("expected one of {list}, found {}", show(e)));
        let text = e.as_ident().or(e.as_str()).unwrap_or("");
        if let Some(s) = crate::suggest::did_you_mean(text, choices.iter().copied()) {
            d = d.help(format!("did you mean `{s}`?")).fix(format!("change to `{s}`"), self.loc(e.span), s);
        }
        self.err(d);
        None
    }

    /// A file path relative to the policy file; reports a missing file.
    pub(super) fn file_path(&mut self, e: &Expr, what: &str) -> Option<PathBuf> {
        let s = self.string(e)?;
        let path = crate::loader::normalize(&self.dir().join(&s));
        if !self.vfs.exists(&path) {
            let d = self
                .error(Code::MissingFile, e.span, format!("{what} `{s}` does not exist"))
                .label(format!("looked for {}", path.display()))
                .help("paths are relative to the folder of the policy file");
            self.err(d);
        }
        Some(path)
    }

    /// `env("NAME")` or `file("path")`; a literal string is refused so that
    /// secrets never sit in policy files.
    pub(super) fn secret(&mut self, e: &Expr) -> Option<Secret> {
        if let ExprKind::Call { name, args } = &e.kind {
            if let ([arg], "env" | "file") = (args.as_slice(), name.name.as_str()) {
                let v = self.string(arg)?;
                if name.name == "file" {
                    return Some(Secret::File(crate::loader::normalize(&self.dir().join(v))));
                }
                if self.vfs.env(&v).is_none() {
                    let code = if self.serve { Code::EnvUnset } else { Code::EnvUnsetWarning };
                    let d = self
                        .error(code, arg.span, format!("environment variable `{v}` is not set"))
                        .help(format!("set it before `hapax serve`, e.g. `export {v}=...`"));
                    self.err(d);
                }
                return Some(Secret::Env(v));
            }
            let d = self
                .error(Code::BadExpression, e.span, format!("`{}(...)` cannot give a secret", name.name))
                .help("write `env(\"NAME\")` or `file(\"/path\")`");
            self.err(d);
            return None;
        }
        if let Some(s) = e.as_str() {
            let d = self
                .error(Code::LiteralSecret, e.span, "secrets must not be written in policy files")
                .label("a literal secret")
                .help(if s.is_empty() {
                    "read it with `env(\"NAME\")` or `file(\"/path\")`".to_string()
                } else {
                    "read it from the environment: `env(\"NAME\")`, or from a file: `file(\"/run/secrets/name\")`"
                        .to_string()
                });
            self.err(d);
            return None;
        }
        self.wrong(e, "`env(\"NAME\")` or `file(\"path\")`", "env(\"OPENAI_API_KEY\")");
        None
    }

    /// `COUNT per DURATION|calendar`.
    pub(super) fn rate(&mut self, e: &Expr) -> Option<Rate> {
        let ExprKind::Rate { count, per } = &e.kind else {
            self.wrong(e, "a rate", "600 per 1m");
            return None;
        };
        let n = match &count.kind {
            ExprKind::Number { value, unit: Unit::None | Unit::Count, .. } => *value,
            _ => {
                self.wrong(count, "a count", "600");
                return None;
            }
        };
        let window = self.window(per)?;
        Some(Rate { count: n, window })
    }

    pub(super) fn window(&mut self, per: &Expr) -> Option<Window> {
        match &per.kind {
            ExprKind::Ident(w) => Some(Window::Calendar(match w.as_str() {
                "minute" => Calendar::Minute,
                "hour" => Calendar::Hour,
                "day" => Calendar::Day,
                "week" => Calendar::Week,
                "month" => Calendar::Month,
                _ => Calendar::Year,
            })),
            ExprKind::Number { value, unit: Unit::Duration, raw } => {
                if *value <= 0.0 {
                    let d =
                        self.error(Code::BadValue, per.span, format!("the window `{raw}` must be longer than zero"));
                    self.err(d);
                    return None;
                }
                Some(Window::Sliding(Duration::from_millis(*value as u64)))
            }
            _ => {
                let d = self
                    .error(
                        Code::WrongType,
                        per.span,
                        format!("expected a duration or a calendar period after `per`, found {}", per.describe()),
                    )
                    .help("write `per 1m`, `per 1h` or `per minute|hour|day|week|month`");
                self.err(d);
                None
            }
        }
    }

    /// `LO..HI` of durations or counts; reports a reversed range.
    pub(super) fn range<'a>(&mut self, e: &'a Expr) -> Option<(&'a Expr, &'a Expr)> {
        let ExprKind::Range { lo, hi } = &e.kind else {
            self.wrong(e, "a range", "100ms..2s");
            return None;
        };
        let (ExprKind::Number { value: a, unit: ua, .. }, ExprKind::Number { value: b, unit: ub, .. }) =
            (&lo.kind, &hi.kind)
        else {
            self.wrong(e, "a range of numbers or durations", "100ms..2s");
            return None;
        };
        if ua != ub {
            let d = self.error(
                Code::BadRange,
                e.span,
                format!("the ends of a range must be alike, found {} and {}", lo.describe(), hi.describe()),
            );
            self.err(d);
            return None;
        }
        if a > b {
            let d = self
                .error(Code::BadRange, e.span, "the low end of this range is above its high end")
                .help(format!("write it as `{}..{}`", raw(hi), raw(lo)));
            self.err(d);
            return None;
        }
        Some((lo, hi))
    }

    pub(super) fn money(&mut self, e: &Expr) -> Option<f64> {
        match &e.kind {
            ExprKind::Money { amount, currency, .. } => {
                if currency != "USD" {
                    let d = self
                        .error(Code::BadValue, e.span, format!("amounts are in `USD`, found `{currency}`"))
                        .help("prices and budgets are kept in US dollars");
                    self.err(d);
                    return None;
                }
                Some(*amount)
            }
            _ => {
                self.wrong(e, "an amount of money", "500 USD");
                None
            }
        }
    }

    /// Request header names, lowercased: tokens, and none that the gateway
    /// owns or that only concern one hop.
    pub(super) fn header_names(&mut self, d: &Directive) -> Vec<String> {
        const NEVER: &[&str] = &[
            "host",
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "content-length",
            "content-type",
            "expect",
            "proxy-connection",
            "proxy-authenticate",
            "proxy-authorization",
            "authorization",
            "x-api-key",
            "api-key",
            "cookie",
            "x-request-id",
        ];
        let mut out = Vec::new();
        let items: Vec<&Expr> = d
            .args
            .iter()
            .flat_map(|a| match &a.value.kind {
                ExprKind::List(items) => items.iter().collect::<Vec<_>>(),
                _ => vec![&a.value],
            })
            .collect();
        for e in items {
            let Some(name) = self.string(e) else { continue };
            let lower = name.to_ascii_lowercase();
            let token =
                !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^`|~".contains(&b));
            if !token {
                let d = self
                    .error(Code::BadValue, e.span, format!("`{name}` is not a header name"))
                    .help("a header name is letters, digits and `-` (names with `_` are never forwarded)");
                self.err(d);
            } else if NEVER.contains(&lower.as_str()) {
                let d = self
                    .error(Code::BadValue, e.span, format!("`{name}` is never forwarded to a provider"))
                    .help("the gateway sets this header itself, or it concerns only one hop");
                self.err(d);
            } else {
                out.push(lower);
            }
        }
        out
    }

    /// A list of strings, or one string.
    pub(super) fn strings(&mut self, d: &Directive) -> Vec<String> {
        let mut out = Vec::new();
        for a in &d.args {
            match &a.value.kind {
                ExprKind::List(items) => {
                    for i in items {
                        if let Some(s) = self.string(i) {
                            out.push(s);
                        }
                    }
                }
                _ => {
                    if let Some(s) = self.string(&a.value) {
                        out.push(s);
                    }
                }
            }
        }
        out
    }

    /// A URL that must be absolute.
    pub(super) fn url(&mut self, e: &Expr, schemes: &[&str]) -> Option<String> {
        let s = self.string(e)?;
        let ok = schemes
            .iter()
            .any(|sch| s.strip_prefix(sch).and_then(|r| r.strip_prefix("://")).is_some_and(|h| !h.is_empty()));
        if !ok {
            let d = self
                .error(Code::BadUrl, e.span, format!("`{s}` is not an absolute {} URL", schemes.join(" or ")))
                .help(format!("for example `{}://host:port/path`", schemes[0]));
            self.err(d);
            return None;
        }
        Some(s)
    }

    /// `host:port`.
    pub(super) fn address(&mut self, e: &Expr) -> Option<String> {
        let s = self.string(e)?;
        let ok = s.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            let d = self
                .error(Code::BadAddress, e.span, format!("`{s}` is not a `host:port` address"))
                .help("for example `127.0.0.1:8080` or `[::]:443`");
            self.err(d);
            return None;
        }
        Some(s)
    }
}

fn raw(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number { raw, .. } => raw.clone(),
        _ => String::new(),
    }
}

/// An expression as it was written, for messages.
pub(super) fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Ident(n) => format!("`{n}`"),
        ExprKind::Str { raw, .. } | ExprKind::Number { raw, .. } => format!("`{raw}`"),
        _ => e.describe().to_string(),
    }
}
