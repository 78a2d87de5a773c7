//! The syntax tree. Every node carries its byte span; the file it belongs
//! to is the [`SourceFile`](crate::span::SourceFile) it was parsed from.

use crate::span::Span;

/// A parsed file: its directives, its comments (kept for the formatter) and
/// nothing else. Syntax errors are returned beside it.
#[derive(Debug, Clone, Default)]
pub struct Ast {
    pub items: Vec<Directive>,
    pub comments: Vec<Comment>,
}

/// `# ...` to end of line.
#[derive(Debug, Clone)]
pub struct Comment {
    pub span: Span,
    pub text: String,
}

/// A name as written, with its span.
#[derive(Debug, Clone)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// What a directive starts with.
#[derive(Debug, Clone)]
pub enum Head {
    /// `key args...`
    Key(Ident),
    /// A split arm: `90% -> args...`.
    Arm(Expr),
}

/// One statement: `key args... [{ ... }]` or a split arm.
#[derive(Debug, Clone)]
pub struct Directive {
    pub head: Head,
    pub args: Vec<Arg>,
    pub block: Option<Block>,
    pub span: Span,
    /// A syntax error was reported inside or right after it; the checker
    /// does not look at its values, so that one mistake gives one error.
    pub broken: bool,
}

impl Directive {
    /// The key, or `->` for a split arm.
    pub fn key(&self) -> &str {
        match &self.head {
            Head::Key(k) => &k.name,
            Head::Arm(_) => "->",
        }
    }
    pub fn key_span(&self) -> Span {
        match &self.head {
            Head::Key(k) => k.span,
            Head::Arm(e) => e.span,
        }
    }
    /// The span of the head and arguments, without the block.
    pub fn head_span(&self) -> Span {
        let end = self.args.last().map_or(self.key_span(), |a| a.value.span);
        self.key_span().to(end)
    }
    /// The first argument when it is a bare name: the declared name of a
    /// top-level block (`route chat { ... }`).
    pub fn name_arg(&self) -> Option<Ident> {
        match self.args.first().map(|a| &a.value.kind) {
            Some(ExprKind::Ident(n)) => Some(Ident { name: n.clone(), span: self.args[0].value.span }),
            _ => None,
        }
    }
}

/// One argument and whether a comma followed it.
#[derive(Debug, Clone)]
pub struct Arg {
    pub value: Expr,
    pub comma: bool,
}

/// `{ ... }`.
#[derive(Debug, Clone)]
pub struct Block {
    pub items: Vec<Directive>,
    /// From `{` to `}` inclusive (to the end of input when unclosed).
    pub span: Span,
    /// Written on one line in the source; the formatter keeps it so.
    pub one_line: bool,
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// The unit written after a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    None,
    /// Already multiplied into the value: `200k`, `2M`.
    Count,
    /// Value in milliseconds.
    Duration,
    /// Value in bytes.
    Size,
    /// Value in percent (`90%` is 90.0).
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~`: regular expression.
    Regex,
    /// `matches`: glob.
    Matches,
    Contains,
    In,
    NotIn,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Regex => "=~",
            BinOp::Matches => "matches",
            BinOp::Contains => "contains",
            BinOp::In => "in",
            BinOp::NotIn => "not in",
        }
    }
    /// Binding strength for printing: larger binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            _ => 4,
        }
    }
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Ident(String),
    Str {
        value: String,
        raw: String,
    },
    Number {
        value: f64,
        unit: Unit,
        raw: String,
    },
    Money {
        amount: f64,
        currency: String,
        raw: String,
    },
    /// `600 per 1m`, `50M per month`, `2.50 USD per 1M`.
    Rate {
        count: Box<Expr>,
        per: Box<Expr>,
    },
    Range {
        lo: Box<Expr>,
        hi: Box<Expr>,
    },
    Field {
        base: Box<Expr>,
        name: Ident,
    },
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    List(Vec<Expr>),
    /// A multi-word list element: `[openai model "gpt-4o", echo]`.
    Words(Vec<Expr>),
    Paren(Box<Expr>),
    Not(Box<Expr>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

impl Expr {
    /// `request.body.messages` as `["request", "body", "messages"]` when the
    /// expression is a plain dotted path.
    pub fn dotted(&self) -> Option<Vec<&str>> {
        match &self.kind {
            ExprKind::Ident(n) => Some(vec![n.as_str()]),
            ExprKind::Field { base, name } => {
                let mut v = base.dotted()?;
                v.push(&name.name);
                Some(v)
            }
            _ => None,
        }
    }
    pub fn as_ident(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Ident(n) => Some(n),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Str { value, .. } => Some(value),
            _ => None,
        }
    }
    /// A short description of what kind of value this is, for messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            ExprKind::Ident(_) => "a name",
            ExprKind::Str { .. } => "a string",
            ExprKind::Number { unit, .. } => match unit {
                Unit::Duration => "a duration",
                Unit::Size => "a size",
                Unit::Percent => "a percentage",
                _ => "a number",
            },
            ExprKind::Money { .. } => "an amount of money",
            ExprKind::Rate { .. } => "a rate",
            ExprKind::Range { .. } => "a range",
            ExprKind::Field { .. } | ExprKind::Index { .. } => "a path",
            ExprKind::Call { .. } => "a function call",
            ExprKind::List(_) => "a list",
            ExprKind::Words(_) => "a target",
            ExprKind::Paren(_) | ExprKind::Not(_) | ExprKind::Binary { .. } => "an expression",
        }
    }
}
