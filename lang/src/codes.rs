//! Every diagnostic's stable code, its severity and a one-line title.
//! `docs/diagnostics.md` is generated from this table (see the test
//! `diagnostics_doc_is_current`), so it is the one place codes live.

macro_rules! codes {
    ($($name:ident = $code:literal, $sev:ident, $title:literal;)*) => {
        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($name,)* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The code as printed: `E0101`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => $code,)* }
            }

            /// Whether this code is an error or a warning.
            pub fn severity(self) -> crate::diag::Severity {
                match self { $(Code::$name => crate::diag::Severity::$sev,)* }
            }

            /// What the code means, in one line.
            pub fn title(self) -> &'static str {
                match self { $(Code::$name => $title,)* }
            }

            /// Looks a code up by its printed form.
            pub fn parse(s: &str) -> Option<Code> {
                match s { $($code => Some(Code::$name),)* _ => None }
            }
        }
    };
}

codes! {
    // Syntax.
    Syntax = "E0101", Error, "the text does not follow the grammar";
    UnclosedBlock = "E0102", Error, "a block is missing its closing brace";
    UnexpectedBrace = "E0103", Error, "a closing brace has no block to close";
    BadUnit = "E0104", Error, "a number has a unit that does not exist";
    BadString = "E0105", Error, "a string is not terminated or has an invalid escape";
    // Files and names.
    UnknownBlock = "E0201", Error, "an unknown block kind at top level";
    UnknownSetting = "E0202", Error, "a setting that does not belong in this block";
    Duplicate = "E0203", Error, "two declarations share one name";
    UnknownReference = "E0204", Error, "a reference to a name that is not declared";
    MissingName = "E0205", Error, "a block that must be named has no name";
    DuplicateSetting = "E0206", Error, "a setting given twice in one block";
    SingletonBlock = "E0207", Error, "a block that may appear only once appears again";
    ImportNotFound = "E0208", Error, "an imported file cannot be read";
    ImportCycle = "E0209", Error, "files import each other in a cycle";
    MissingFile = "E0210", Error, "a file the policy refers to does not exist";
    NotTopLevel = "E0211", Error, "a declaration that must be at top level is nested";
    // Values.
    WrongType = "E0301", Error, "a value of the wrong kind";
    WrongArity = "E0302", Error, "too many or too few values";
    BadValue = "E0303", Error, "a value outside what the setting accepts";
    BadRange = "E0304", Error, "a range whose low end is above its high end";
    BadRegex = "E0305", Error, "a regular expression that does not compile";
    BadGlob = "E0306", Error, "a glob pattern that does not compile";
    UnknownEnum = "E0307", Error, "a word that is not one of the setting's choices";
    MissingSetting = "E0308", Error, "a required setting is missing";
    LiteralSecret = "E0309", Error, "a secret written literally instead of env() or file()";
    BadAddress = "E0310", Error, "a listen address that is not host:port";
    BadUrl = "E0311", Error, "a URL that is not absolute http(s)";
    EnvUnset = "E0312", Error, "an environment variable the policy needs is not set";
    // Expressions.
    TypeMismatch = "E0401", Error, "an operator applied to values of the wrong types";
    UnknownPath = "E0402", Error, "an expression path that does not exist";
    UnknownFunction = "E0403", Error, "a call to a function that does not exist";
    NotBoolean = "E0404", Error, "a condition that is not true or false";
    BadExpression = "E0405", Error, "an expression where a plain value is needed, or the reverse";
    // Routing.
    SplitSum = "E0501", Error, "split weights that do not add up to 100%";
    FallbackCycle = "E0502", Error, "routes whose fallbacks lead back to themselves";
    NoTarget = "E0503", Error, "a route with no target";
    ConflictingTargets = "E0504", Error, "a route with both `to` and `split`";
    BadPathPattern = "E0505", Error, "a route path pattern that cannot match a request path";
    // Tests.
    BadTest = "E0601", Error, "a test block that cannot be run";
    // Serving.
    NotEnforced = "E0701", Error, "a declaration `hapax serve` does not enforce yet, so it refuses the policy";
    // Cedar.
    CedarSyntax = "E0801", Error, "the Cedar policy file does not parse";
    CedarInvalid = "E0802", Error, "a Cedar policy that does not fit the schema Hapax generates";
    RoleCycle = "E0803", Error, "roles that inherit each other in a cycle";
    // Warnings.
    Shadowed = "W0101", Warning, "a route that can never match because an earlier one always wins";
    ClusterScopeWithoutCluster = "W0102", Warning, "`scope cluster` without a `cluster` block";
    EnvUnsetWarning = "W0103", Warning, "an environment variable is not set here";
    Unused = "W0104", Warning, "a declaration nothing uses";
    ConstantCondition = "W0105", Warning, "a condition that is always true or always false";
    NotEnforcedWarning = "W0106", Warning, "a declaration `hapax serve` does not enforce yet (serve refuses it)";
    CedarWarning = "W0107", Warning, "a Cedar policy the validator warns about";
}
