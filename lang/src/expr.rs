//! Expressions compiled once, at check time, into a tree whose paths are
//! resolved, whose regexes and globs are compiled and whose constant parts
//! are folded; evaluating it against a request never looks at the syntax
//! tree again.

use crate::codes::Code;
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};
use crate::syntax::ast::{BinOp, Expr, ExprKind, Unit};
use regex::Regex;
use std::borrow::Cow;

/// What the policy can see of a request. The runtime implements it over a
/// live request; `hapax test` over a test block.
pub trait RequestView {
    fn method(&self) -> &str;
    fn path(&self) -> &str;
    fn model(&self) -> Option<&str>;
    fn stream(&self) -> bool;
    /// Estimated prompt tokens.
    fn tokens(&self) -> u64;
    /// A header by lowercase name.
    fn header(&self, name: &str) -> Option<&str>;
    fn body(&self) -> Option<&serde_json::Value>;
    fn client(&self) -> Option<&ClientInfo>;
    /// UTC hour (0-23) and weekday (0 = Monday).
    fn clock(&self) -> (u8, u8) {
        utc_clock()
    }
}

/// The UTC hour (0-23) and weekday (0 = Monday) now.
pub fn utc_clock() -> (u8, u8) {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    (((secs / 3600) % 24) as u8, (((secs / 86400) + 3) % 7) as u8)
}

/// The authenticated caller, as far as routing needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    pub id: String,
    pub tier: Option<String>,
    pub team: Option<String>,
    pub roles: Vec<String>,
}

/// A value during evaluation; borrows from the request where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    List(Vec<Value<'a>>),
    Json(&'a serde_json::Value),
}

impl<'a> Value<'a> {
    /// The same value borrowing this one's strings: evaluating a constant
    /// copies no text.
    fn reborrow(&self) -> Value<'_> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            Value::Num(n) => Value::Num(*n),
            Value::Str(s) => Value::Str(Cow::Borrowed(s)),
            Value::List(items) => Value::List(items.iter().map(Value::reborrow).collect()),
            Value::Json(j) => Value::Json(j),
        }
    }

    /// Turns JSON scalars into plain values so that comparisons work.
    fn norm(self) -> Value<'a> {
        match self {
            Value::Json(j) => match j {
                serde_json::Value::Null => Value::Null,
                serde_json::Value::Bool(b) => Value::Bool(*b),
                serde_json::Value::Number(n) => Value::Num(n.as_f64().unwrap_or(0.0)),
                serde_json::Value::String(s) => Value::Str(Cow::Borrowed(s)),
                serde_json::Value::Array(a) => Value::List(a.iter().map(|v| Value::Json(v).norm()).collect()),
                serde_json::Value::Object(_) => Value::Json(j),
            },
            v => v,
        }
    }
    pub fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Null => false,
            Value::Num(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Json(j) => !j.is_null(),
        }
    }
    /// A string form for hashing, cache keys and messages.
    pub fn to_key(&self) -> Cow<'_, str> {
        match self {
            Value::Null => Cow::Borrowed(""),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Num(n) => Cow::Owned(n.to_string()),
            Value::Str(s) => Cow::Borrowed(s),
            Value::List(l) => Cow::Owned(l.iter().map(|v| v.to_key().into_owned()).collect::<Vec<_>>().join("\u{1f}")),
            Value::Json(j) => Cow::Owned(j.to_string()),
        }
    }
    fn into_static(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Num(n) => Value::Num(n),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::List(l) => Value::List(l.into_iter().map(Value::into_static).collect()),
            Value::Json(j) => match j {
                serde_json::Value::Object(_) => Value::Str(Cow::Owned(j.to_string())),
                _ => Value::Json(j).norm().into_static(),
            },
        }
    }
}

/// A resolved expression path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathRef {
    Method,
    Path,
    Model,
    Stream,
    Tokens,
    Header(String),
    Body(Vec<Seg>),
    ClientId,
    ClientTier,
    ClientTeam,
    ClientRoles,
    Hour,
    Weekday,
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// The static type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Num,
    Str,
    List,
    /// Anything from a JSON body; checked at run time.
    Any,
    Null,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "a boolean",
            Ty::Num => "a number",
            Ty::Str => "a string",
            Ty::List => "a list",
            Ty::Any => "a JSON value",
            Ty::Null => "null",
        }
    }
    fn fits(self, want: Ty) -> bool {
        self == want || self == Ty::Any || want == Ty::Any
    }
}

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Len,
    Lower,
    Upper,
    Hash,
    StartsWith,
    EndsWith,
    Trim,
    Coalesce,
}

impl Func {
    fn lookup(name: &str) -> Option<(Func, usize, Ty)> {
        Some(match name {
            "len" => (Func::Len, 1, Ty::Num),
            "lower" => (Func::Lower, 1, Ty::Str),
            "upper" => (Func::Upper, 1, Ty::Str),
            "hash" => (Func::Hash, 1, Ty::Num),
            "starts_with" => (Func::StartsWith, 2, Ty::Bool),
            "ends_with" => (Func::EndsWith, 2, Ty::Bool),
            "trim" => (Func::Trim, 1, Ty::Str),
            "coalesce" => (Func::Coalesce, 2, Ty::Any),
            _ => return None,
        })
    }
    const NAMES: &'static [&'static str] =
        &["len", "lower", "upper", "hash", "starts_with", "ends_with", "trim", "coalesce"];
}

/// Comparison operators that survive compilation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub enum CExpr {
    Const(Value<'static>),
    Path(PathRef),
    Not(Box<CExpr>),
    And(Vec<CExpr>),
    Or(Vec<CExpr>),
    Cmp(Cmp, Box<CExpr>, Box<CExpr>),
    Regex(Box<CExpr>, Regex),
    Glob(Box<CExpr>, Glob),
    Contains(Box<CExpr>, Box<CExpr>),
    In(Box<CExpr>, Box<CExpr>),
    Call(Func, Vec<CExpr>),
    List(Vec<CExpr>),
}

impl CExpr {
    /// Evaluates against a request.
    pub fn eval<'a, R: RequestView + ?Sized>(&'a self, req: &'a R) -> Value<'a> {
        match self {
            CExpr::Const(v) => v.reborrow(),
            CExpr::Path(p) => path_value(p, req),
            CExpr::Not(e) => Value::Bool(!e.eval(req).truthy()),
            CExpr::And(es) => Value::Bool(es.iter().all(|e| e.eval(req).truthy())),
            CExpr::Or(es) => Value::Bool(es.iter().any(|e| e.eval(req).truthy())),
            CExpr::Cmp(op, a, b) => Value::Bool(compare(*op, &a.eval(req), &b.eval(req))),
            CExpr::Regex(e, re) => match e.eval(req) {
                Value::Str(s) => Value::Bool(re.is_match(&s)),
                _ => Value::Bool(false),
            },
            CExpr::Glob(e, g) => match e.eval(req) {
                Value::Str(s) => Value::Bool(g.is_match(&s)),
                _ => Value::Bool(false),
            },
            CExpr::Contains(a, b) => Value::Bool(contains(&a.eval(req), &b.eval(req))),
            CExpr::In(a, b) => Value::Bool(contains(&b.eval(req), &a.eval(req))),
            CExpr::Call(f, args) => call(*f, args.iter().map(|a| a.eval(req)).collect()),
            CExpr::List(items) => Value::List(items.iter().map(|e| e.eval(req)).collect()),
        }
    }

    /// Evaluates as a condition.
    pub fn test<R: RequestView + ?Sized>(&self, req: &R) -> bool {
        self.eval(req).truthy()
    }

    fn as_const(&self) -> Option<&Value<'static>> {
        match self {
            CExpr::Const(v) => Some(v),
            _ => None,
        }
    }
}

fn path_value<'a, R: RequestView + ?Sized>(p: &'a PathRef, req: &'a R) -> Value<'a> {
    let opt = |s: Option<&'a str>| s.map_or(Value::Null, |s| Value::Str(Cow::Borrowed(s)));
    match p {
        PathRef::Method => Value::Str(Cow::Borrowed(req.method())),
        PathRef::Path => Value::Str(Cow::Borrowed(req.path())),
        PathRef::Model => opt(req.model()),
        PathRef::Stream => Value::Bool(req.stream()),
        PathRef::Tokens => Value::Num(req.tokens() as f64),
        PathRef::Header(h) => opt(req.header(h)),
        PathRef::Body(segs) => {
            let mut cur = match req.body() {
                Some(b) => b,
                None => return Value::Null,
            };
            for seg in segs {
                let next = match seg {
                    Seg::Key(k) => cur.get(k.as_str()),
                    Seg::Index(i) => cur.get(*i),
                };
                match next {
                    Some(n) => cur = n,
                    None => return Value::Null,
                }
            }
            Value::Json(cur).norm()
        }
        PathRef::ClientId => opt(req.client().map(|c| c.id.as_str())),
        PathRef::ClientTier => opt(req.client().and_then(|c| c.tier.as_deref())),
        PathRef::ClientTeam => opt(req.client().and_then(|c| c.team.as_deref())),
        PathRef::ClientRoles => Value::List(
            req.client()
                .map_or(Vec::new(), |c| c.roles.iter().map(|r| Value::Str(Cow::Borrowed(r.as_str()))).collect()),
        ),
        PathRef::Hour => Value::Num(f64::from(req.clock().0)),
        PathRef::Weekday => Value::Str(Cow::Borrowed(weekday(req.clock().1))),
    }
}

/// A weekday's name, `mon` for 0 … `sun` for 6.
pub fn weekday(day: u8) -> &'static str {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    DAYS[usize::from(day % 7)]
}

fn compare(op: Cmp, a: &Value, b: &Value) -> bool {
    let ord = match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    };
    match (op, ord) {
        (Cmp::Eq, o) => o == Some(std::cmp::Ordering::Equal) || (ord.is_none() && a == b),
        (Cmp::Ne, o) => !(o == Some(std::cmp::Ordering::Equal) || (ord.is_none() && a == b)),
        (_, None) => false,
        (Cmp::Lt, Some(o)) => o.is_lt(),
        (Cmp::Le, Some(o)) => o.is_le(),
        (Cmp::Gt, Some(o)) => o.is_gt(),
        (Cmp::Ge, Some(o)) => o.is_ge(),
    }
}

fn contains(hay: &Value, needle: &Value) -> bool {
    match hay {
        Value::Str(s) => match needle {
            Value::Str(n) => s.contains(n.as_ref()),
            _ => false,
        },
        Value::List(items) => items.iter().any(|i| compare(Cmp::Eq, i, needle)),
        Value::Json(j) => match j {
            // A content array of parts: look into the text parts.
            serde_json::Value::Object(_) => j.to_string().contains(needle.to_key().as_ref()),
            _ => false,
        },
        _ => false,
    }
}

/// A stable 64-bit FNV-1a hash (sticky splits, `hash()`).
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn call(f: Func, mut args: Vec<Value>) -> Value {
    let first = if args.is_empty() { Value::Null } else { args.swap_remove(0) };
    let str_arg = |v: &Value| -> String { v.to_key().into_owned() };
    match f {
        Func::Len => match &first {
            Value::Str(s) => Value::Num(s.chars().count() as f64),
            Value::List(l) => Value::Num(l.len() as f64),
            Value::Json(serde_json::Value::Object(o)) => Value::Num(o.len() as f64),
            _ => Value::Num(0.0),
        },
        Func::Lower => Value::Str(Cow::Owned(str_arg(&first).to_lowercase())),
        Func::Upper => Value::Str(Cow::Owned(str_arg(&first).to_uppercase())),
        Func::Trim => Value::Str(Cow::Owned(str_arg(&first).trim().to_string())),
        Func::Hash => Value::Num((stable_hash(&first.to_key()) % 100) as f64),
        Func::StartsWith | Func::EndsWith => {
            // After swap_remove the second argument sits at index 0.
            let second = args.first().map(|v| v.to_key().into_owned()).unwrap_or_default();
            let s = str_arg(&first);
            Value::Bool(if f == Func::StartsWith { s.starts_with(&second) } else { s.ends_with(&second) })
        }
        Func::Coalesce => match first {
            Value::Null => args.into_iter().next().unwrap_or(Value::Null),
            v => v,
        },
    }
}

/// A compiled glob: the regex, and a plain prefix test when the glob is a
/// literal followed by one `*` (`gpt-4*`, the common case).
#[derive(Debug, Clone)]
pub struct Glob {
    prefix: Option<Box<str>>,
    re: Regex,
}

impl Glob {
    pub fn new(glob: &str) -> Result<Glob, String> {
        let re = glob_to_regex(glob)?;
        let prefix = glob.strip_suffix('*').filter(|p| !p.contains(['*', '?', '['])).map(Box::from);
        Ok(Glob { prefix, re })
    }

    pub fn is_match(&self, s: &str) -> bool {
        match &self.prefix {
            // `*` is `.*`, which stops at a line break.
            Some(p) => s.strip_prefix(&**p).is_some_and(|rest| !rest.contains('\n')),
            None => self.re.is_match(s),
        }
    }
}

/// Compiles glob syntax (`*`, `?`, `[abc]`) to an anchored regex.
pub fn glob_to_regex(glob: &str) -> Result<Regex, String> {
    let mut re = String::with_capacity(glob.len() + 8);
    re.push('^');
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => {
                let mut class = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    class.push(c);
                }
                if !closed || class.is_empty() {
                    return Err("a `[` class is not closed".into());
                }
                re.push('[');
                let (negated, class) = match class.strip_prefix('!') {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, class),
                };
                if negated {
                    re.push('^');
                }
                // Ranges (`a-c`) keep their meaning in both forms.
                re.push_str(&regex::escape(&class).replace("\\-", "-"));
                re.push(']');
            }
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| e.to_string())
}

/// Compiles expressions, reporting into a diagnostics list.
pub struct ExprCompiler<'d> {
    pub file: FileId,
    pub diags: &'d mut Vec<Diagnostic>,
}

impl ExprCompiler<'_> {
    /// Compiles an expression that must be a condition.
    pub fn condition(&mut self, e: &Expr) -> CExpr {
        let (c, ty) = self.compile(e);
        if !ty.fits(Ty::Bool) {
            self.err(
                Diagnostic::new(
                    Code::NotBoolean,
                    self.file,
                    e.span,
                    format!("this condition is {}, not true or false", ty.name()),
                )
                .help("compare it with something, e.g. `request.model == \"gpt-4o\"`"),
            );
        }
        c
    }

    /// Compiles a value expression (for `by`, `key`).
    pub fn value(&mut self, e: &Expr) -> CExpr {
        self.compile(e).0
    }

    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn bad(&mut self, span: Span, msg: String, help: &str) -> (CExpr, Ty) {
        self.err(Diagnostic::new(Code::BadExpression, self.file, span, msg).help(help));
        (CExpr::Const(Value::Null), Ty::Any)
    }

    pub fn compile(&mut self, e: &Expr) -> (CExpr, Ty) {
        match &e.kind {
            ExprKind::Str { value, .. } => (CExpr::Const(Value::Str(Cow::Owned(value.clone()))), Ty::Str),
            ExprKind::Number { value, unit, .. } => {
                if matches!(unit, Unit::Duration | Unit::Size) {
                    return self.bad(
                        e.span,
                        format!("{} cannot be used in an expression", e.describe()),
                        "expressions compare numbers, strings and lists",
                    );
                }
                (CExpr::Const(Value::Num(*value)), Ty::Num)
            }
            ExprKind::Ident(name) => match name.as_str() {
                // The parser's placeholder for a part it already reported.
                "" => (CExpr::Const(Value::Null), Ty::Any),
                "true" => (CExpr::Const(Value::Bool(true)), Ty::Bool),
                "false" => (CExpr::Const(Value::Bool(false)), Ty::Bool),
                "null" => (CExpr::Const(Value::Null), Ty::Null),
                _ => self.path(e),
            },
            ExprKind::Field { .. } | ExprKind::Index { .. } => self.path(e),
            ExprKind::Paren(inner) => self.compile(inner),
            ExprKind::List(items) => {
                let compiled: Vec<CExpr> = items.iter().map(|i| self.compile(i).0).collect();
                if compiled.iter().all(|c| c.as_const().is_some()) {
                    let values = compiled.into_iter().filter_map(|c| c.as_const().cloned()).collect();
                    (CExpr::Const(Value::List(values)), Ty::List)
                } else {
                    (CExpr::List(compiled), Ty::List)
                }
            }
            ExprKind::Not(inner) => {
                let (c, ty) = self.compile(inner);
                if !ty.fits(Ty::Bool) {
                    self.err(Diagnostic::new(
                        Code::NotBoolean,
                        self.file,
                        inner.span,
                        format!("`not` needs a condition, found {}", ty.name()),
                    ));
                }
                match c {
                    CExpr::Const(v) => (CExpr::Const(Value::Bool(!v.truthy())), Ty::Bool),
                    c => (CExpr::Not(Box::new(c)), Ty::Bool),
                }
            }
            ExprKind::Call { name, args } => {
                let Some((f, arity, ret)) = Func::lookup(&name.name) else {
                    let mut d = Diagnostic::new(
                        Code::UnknownFunction,
                        self.file,
                        name.span,
                        format!("unknown function `{}`", name.name),
                    );
                    if let Some(s) = crate::suggest::did_you_mean(&name.name, Func::NAMES.iter().copied()) {
                        d = d.help(format!("did you mean `{s}`?"));
                        d = d.fix(format!("change to `{s}`"), crate::span::Loc { file: self.file, span: name.span }, s);
                    } else {
                        d = d.help(format!("the functions are {}", Func::NAMES.join(", ")));
                    }
                    self.err(d);
                    return (CExpr::Const(Value::Null), Ty::Any);
                };
                if args.len() != arity {
                    self.err(Diagnostic::new(
                        Code::WrongArity,
                        self.file,
                        e.span,
                        format!(
                            "`{}` takes {} argument{}, found {}",
                            name.name,
                            arity,
                            if arity == 1 { "" } else { "s" },
                            args.len()
                        ),
                    ));
                }
                let cargs: Vec<CExpr> = args.iter().map(|a| self.compile(a).0).collect();
                (CExpr::Call(f, cargs), ret)
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(e.span, *op, lhs, rhs),
            ExprKind::Money { .. } | ExprKind::Rate { .. } | ExprKind::Range { .. } | ExprKind::Words(_) => self.bad(
                e.span,
                format!("{} cannot be used in an expression", e.describe()),
                "expressions compare numbers, strings and lists",
            ),
        }
    }

    fn binary(&mut self, span: Span, op: BinOp, lhs: &Expr, rhs: &Expr) -> (CExpr, Ty) {
        let (l, lt) = self.compile(lhs);
        match op {
            BinOp::And | BinOp::Or => {
                let (r, rt) = self.compile(rhs);
                for (t, ex) in [(lt, lhs), (rt, rhs)] {
                    if !t.fits(Ty::Bool) {
                        self.err(
                            Diagnostic::new(
                                Code::NotBoolean,
                                self.file,
                                ex.span,
                                format!("`{}` needs conditions on both sides, found {}", op.as_str(), t.name()),
                            )
                            .help("compare the value with something, e.g. `== \"x\"`"),
                        );
                    }
                }
                let is_and = op == BinOp::And;
                // Fold constants: `false and x` is false, `true and x` is x.
                let mut parts = Vec::new();
                for c in [l, r] {
                    match c.as_const().map(Value::truthy) {
                        Some(b) if b == is_and => {}
                        Some(_) => return (CExpr::Const(Value::Bool(!is_and)), Ty::Bool),
                        None => match c {
                            CExpr::And(inner) if is_and => parts.extend(inner),
                            CExpr::Or(inner) if !is_and => parts.extend(inner),
                            c => parts.push(c),
                        },
                    }
                }
                let out = match parts.len() {
                    0 => CExpr::Const(Value::Bool(is_and)),
                    1 => parts.pop().unwrap_or(CExpr::Const(Value::Bool(is_and))),
                    _ if is_and => CExpr::And(parts),
                    _ => CExpr::Or(parts),
                };
                (out, Ty::Bool)
            }
            BinOp::Regex | BinOp::Matches => {
                if !lt.fits(Ty::Str) {
                    self.mismatch(span, op, lt, "a string");
                }
                let Some(pattern) = rhs.as_str() else {
                    return self.bad(
                        rhs.span,
                        format!("the pattern after `{}` must be a string literal", op.as_str()),
                        "patterns are compiled once, when the policy is loaded",
                    );
                };
                let compiled = if op == BinOp::Regex {
                    Regex::new(pattern).map(|re| CExpr::Regex(Box::new(l), re)).map_err(|e| e.to_string())
                } else {
                    Glob::new(pattern).map(|g| CExpr::Glob(Box::new(l), g))
                };
                match compiled {
                    Ok(c) => (c, Ty::Bool),
                    Err(msg) => {
                        let (code, what) = if op == BinOp::Regex {
                            (Code::BadRegex, "regular expression")
                        } else {
                            (Code::BadGlob, "glob")
                        };
                        let first = msg.lines().last().unwrap_or(&msg).trim().trim_start_matches("error: ").to_string();
                        self.err(
                            Diagnostic::new(code, self.file, rhs.span, format!("invalid {what} `{pattern}`"))
                                .label(first),
                        );
                        (CExpr::Const(Value::Bool(false)), Ty::Bool)
                    }
                }
            }
            BinOp::Contains => {
                let (r, _) = self.compile(rhs);
                if !(lt.fits(Ty::Str) || lt.fits(Ty::List)) {
                    self.mismatch(span, op, lt, "a string or a list");
                }
                (CExpr::Contains(Box::new(l), Box::new(r)), Ty::Bool)
            }
            BinOp::In | BinOp::NotIn => {
                let (r, rt) = self.compile(rhs);
                if !(rt.fits(Ty::List) || rt.fits(Ty::Str)) {
                    self.err(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            self.file,
                            rhs.span,
                            format!("`{}` needs a list on its right, found {}", op.as_str(), rt.name()),
                        )
                        .help("write the choices as a list: `[\"a\", \"b\"]`"),
                    );
                }
                let e = CExpr::In(Box::new(l), Box::new(r));
                if op == BinOp::NotIn {
                    (CExpr::Not(Box::new(e)), Ty::Bool)
                } else {
                    (e, Ty::Bool)
                }
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let (r, rt) = self.compile(rhs);
                let ordered = !matches!(op, BinOp::Eq | BinOp::Ne);
                if ordered {
                    for (t, ex) in [(lt, lhs), (rt, rhs)] {
                        if !t.fits(Ty::Num) {
                            self.err(Diagnostic::new(
                                Code::TypeMismatch,
                                self.file,
                                ex.span,
                                format!("`{}` compares numbers, found {}", op.as_str(), t.name()),
                            ));
                        }
                    }
                } else if !(lt.fits(rt) || lt == Ty::Null || rt == Ty::Null) {
                    self.err(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            self.file,
                            span,
                            format!("`{}` compares {} with {}", op.as_str(), lt.name(), rt.name()),
                        )
                        .label("these can never be equal")
                        .help("compare values of the same kind, e.g. a string with a string"),
                    );
                }
                let cmp = match op {
                    BinOp::Eq => Cmp::Eq,
                    BinOp::Ne => Cmp::Ne,
                    BinOp::Lt => Cmp::Lt,
                    BinOp::Le => Cmp::Le,
                    BinOp::Gt => Cmp::Gt,
                    _ => Cmp::Ge,
                };
                if let (Some(a), Some(b)) = (l.as_const(), r.as_const()) {
                    return (CExpr::Const(Value::Bool(compare(cmp, a, b))), Ty::Bool);
                }
                (CExpr::Cmp(cmp, Box::new(l), Box::new(r)), Ty::Bool)
            }
        }
    }

    fn mismatch(&mut self, span: Span, op: BinOp, found: Ty, want: &str) {
        self.err(Diagnostic::new(
            Code::TypeMismatch,
            self.file,
            span,
            format!("`{}` needs {want} on its left, found {}", op.as_str(), found.name()),
        ));
    }

    /// Resolves `request.x`, `client.x`, `time.x`.
    fn path(&mut self, e: &Expr) -> (CExpr, Ty) {
        // Flatten into root + steps.
        let mut steps: Vec<&Expr> = Vec::new();
        let mut cur = e;
        while let ExprKind::Field { base, .. } | ExprKind::Index { base, .. } = &cur.kind {
            steps.push(cur);
            cur = base;
        }
        steps.reverse();
        let Some(root) = cur.as_ident() else {
            return self.bad(
                e.span,
                "only `request`, `client` and `time` values can be indexed".into(),
                "write a path like `request.body.messages[0]`",
            );
        };
        let roots: Vec<&str> = crate::schema::PATHS.iter().map(|(r, _)| *r).collect();
        let Some((_, fields)) = crate::schema::PATHS.iter().find(|(r, _)| *r == root) else {
            let mut d = Diagnostic::new(
                Code::UnknownPath,
                self.file,
                cur.span,
                format!("unknown name `{root}` in an expression"),
            );
            d = match crate::suggest::did_you_mean(root, roots.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help("expressions read `request.*`, `client.*` and `time.*`; to compare with a word, quote it: `\"...\"`"),
            };
            self.err(d);
            return (CExpr::Const(Value::Null), Ty::Any);
        };
        let Some(first) = steps.first() else {
            return self.bad(
                e.span,
                format!("`{root}` needs a field, like `{root}.{}`", fields[0]),
                "pick one of its fields",
            );
        };
        let ExprKind::Field { name, .. } = &first.kind else {
            return self.bad(first.span, format!("`{root}` is not a list or map"), "use a field");
        };
        if !fields.contains(&name.name.as_str()) {
            let mut d = Diagnostic::new(
                Code::UnknownPath,
                self.file,
                name.span,
                format!("`{root}` has no field `{}`", name.name),
            );
            d = match crate::suggest::did_you_mean(&name.name, fields.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")).fix(
                    format!("change to `{s}`"),
                    crate::span::Loc { file: self.file, span: name.span },
                    s,
                ),
                None => d.help(format!("the fields of `{root}` are {}", fields.join(", "))),
            };
            self.err(d);
            return (CExpr::Const(Value::Null), Ty::Any);
        }
        let rest = &steps[1..];
        let simple = |s: &mut Self, p: PathRef, ty: Ty| -> (CExpr, Ty) {
            if let Some(extra) = rest.first() {
                return s.bad(extra.span, format!("`{root}.{}` has no fields", name.name), "remove what follows");
            }
            (CExpr::Path(p), ty)
        };
        match (root, name.name.as_str()) {
            ("request", "method") => simple(self, PathRef::Method, Ty::Str),
            ("request", "path") => simple(self, PathRef::Path, Ty::Str),
            ("request", "model") => simple(self, PathRef::Model, Ty::Str),
            ("request", "stream") => simple(self, PathRef::Stream, Ty::Bool),
            ("request", "tokens") => simple(self, PathRef::Tokens, Ty::Num),
            ("client", "id") => simple(self, PathRef::ClientId, Ty::Str),
            ("client", "tier") => simple(self, PathRef::ClientTier, Ty::Str),
            ("client", "team") => simple(self, PathRef::ClientTeam, Ty::Str),
            ("client", "roles") => simple(self, PathRef::ClientRoles, Ty::List),
            ("time", "hour") => simple(self, PathRef::Hour, Ty::Num),
            ("time", "weekday") => simple(self, PathRef::Weekday, Ty::Str),
            ("request", "header") => {
                let header = match rest {
                    [one] => match &one.kind {
                        ExprKind::Index { index, .. } => index.as_str().map(str::to_ascii_lowercase),
                        ExprKind::Field { name, .. } => Some(name.name.to_ascii_lowercase()),
                        _ => None,
                    },
                    _ => None,
                };
                match header {
                    Some(h) => (CExpr::Path(PathRef::Header(h)), Ty::Str),
                    None => self.bad(
                        e.span,
                        "a header is read as `request.header[\"name\"]`".into(),
                        "name exactly one header, as a string",
                    ),
                }
            }
            _ => {
                // request.body.<json path>
                let mut segs = Vec::new();
                for step in rest {
                    match &step.kind {
                        ExprKind::Field { name, .. } => segs.push(Seg::Key(name.name.clone())),
                        ExprKind::Index { index, .. } => match &index.kind {
                            ExprKind::Number { value, unit: Unit::None, .. }
                                if *value >= 0.0 && value.fract() == 0.0 =>
                            {
                                segs.push(Seg::Index(*value as usize))
                            }
                            ExprKind::Str { value, .. } => segs.push(Seg::Key(value.clone())),
                            _ => {
                                return self.bad(
                                    index.span,
                                    "a body index must be a whole number or a string".into(),
                                    "write `[0]` or `[\"key\"]`",
                                );
                            }
                        },
                        _ => {}
                    }
                }
                (CExpr::Path(PathRef::Body(segs)), Ty::Any)
            }
        }
    }
}

/// Turns a constant value into its static form (used by folding).
pub fn to_static(v: Value<'_>) -> Value<'static> {
    v.into_static()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let re = glob_to_regex("gpt-4*").unwrap();
        assert!(re.is_match("gpt-4o"));
        assert!(!re.is_match("gpt-3.5"));
        assert!(glob_to_regex("a.b").unwrap().is_match("a.b"));
        assert!(!glob_to_regex("a.b").unwrap().is_match("axb"));
        assert!(glob_to_regex("[ab]x").unwrap().is_match("bx"));
        assert!(glob_to_regex("[ab").is_err());
        let neg = glob_to_regex("[!a-c]x").unwrap();
        assert!(!neg.is_match("bx"));
        assert!(neg.is_match("dx"));
    }

    #[test]
    fn prefix_globs_agree_with_their_regex() {
        for glob in ["gpt-4*", "*", "claude-3.5*", "a?b*", "[ab]*", "x*y*"] {
            let g = Glob::new(glob).unwrap();
            let re = glob_to_regex(glob).unwrap();
            for s in
                ["gpt-4", "gpt-4o", "gpt-3", "", "claude-3.5-sonnet", "claude-3x5", "axb", "bcd", "xay", "gpt-4\nx"]
            {
                assert_eq!(g.is_match(s), re.is_match(s), "{glob} on {s:?}");
            }
        }
        assert!(Glob::new("gpt-4*").unwrap().prefix.is_some());
        assert!(Glob::new("a?b*").unwrap().prefix.is_none());
    }
}
