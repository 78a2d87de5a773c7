//! Signatures and documentation of the functions callable from expressions.
//!
//! The compiler implements and type-checks these functions; this module is the single list
//! of their names, parameter types and meaning, shared with hover and completion.

/// One expression function: its name, parameter types, return type and meaning.
///
/// Types are one of `"string"`, `"number"`, `"bool"`, `"list"` and `"any"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionDoc {
    /// The name used in a call, such as `len`.
    pub name: &'static str,
    /// The type of each parameter, in order.
    pub params: &'static [&'static str],
    /// The type of the result.
    pub returns: &'static str,
    /// One plain sentence saying what the function computes.
    pub summary: &'static str,
}

const FUNCTIONS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "len",
        params: &["any"],
        returns: "number",
        summary: "Returns the length of a string in characters or the number of items in a list.",
    },
    FunctionDoc {
        name: "lower",
        params: &["string"],
        returns: "string",
        summary: "Returns the string with every letter in lower case.",
    },
    FunctionDoc {
        name: "upper",
        params: &["string"],
        returns: "string",
        summary: "Returns the string with every letter in upper case.",
    },
    FunctionDoc {
        name: "hash",
        params: &["any"],
        returns: "number",
        summary: "Returns a stable 64-bit hash of the value reduced to a bucket from 0 to 99, \
                  so the same value always lands in the same bucket.",
    },
    FunctionDoc {
        name: "starts_with",
        params: &["string", "string"],
        returns: "bool",
        summary: "Returns true when the first string begins with the second.",
    },
    FunctionDoc {
        name: "ends_with",
        params: &["string", "string"],
        returns: "bool",
        summary: "Returns true when the first string ends with the second.",
    },
    FunctionDoc {
        name: "trim",
        params: &["string"],
        returns: "string",
        summary: "Returns the string without leading and trailing whitespace.",
    },
    FunctionDoc {
        name: "coalesce",
        params: &["any", "any"],
        returns: "any",
        summary: "Returns the first argument that is not null.",
    },
];

/// Every expression function, in documentation order.
pub fn all() -> &'static [FunctionDoc] {
    FUNCTIONS
}

/// The function called `name`, if there is one.
pub fn lookup(name: &str) -> Option<&'static FunctionDoc> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPES: &[&str] = &["string", "number", "bool", "list", "any"];

    #[test]
    fn lookup_finds_each_function() {
        let len = lookup("len").unwrap();
        assert_eq!(len.params, &["any"]);
        assert_eq!(len.returns, "number");
        assert_eq!(lookup("starts_with").unwrap().params.len(), 2);
        assert!(lookup("LEN").is_none());
        assert!(lookup("nope").is_none());
    }

    #[test]
    fn names_are_unique_and_types_known() {
        for (i, f) in all().iter().enumerate() {
            assert!(all()[..i].iter().all(|g| g.name != f.name), "duplicate function `{}`", f.name);
            for t in f.params.iter().chain(std::iter::once(&f.returns)) {
                assert!(TYPES.contains(t), "`{}` uses unknown type `{t}`", f.name);
            }
            assert!(
                crate::docs::is_one_sentence(f.summary),
                "summary of `{}` is not one sentence: {:?}",
                f.name,
                f.summary
            );
        }
        assert_eq!(all().len(), 8);
    }
}
