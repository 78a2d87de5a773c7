//! Serde helpers shared by the wire types: string enums that keep unknown values, `type`-tagged
//! enums that keep unknown kinds, and "string or array" fields.
//!
//! Both APIs grow new enum values and block kinds over time; a gateway that rejected them would
//! break clients on the day the provider ships them, so every closed set here has an `Other`
//! variant that round-trips verbatim.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields a type does not model, kept verbatim so a forwarded body loses nothing.
pub type Extra = Map<String, Value>;

/// Serializes `inner` with a leading `"type": kind` entry.
#[derive(Serialize)]
pub(crate) struct Tagged<'a, T> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[serde(flatten)]
    pub(crate) inner: &'a T,
}

/// Defines a string enum with known variants plus `Other(String)` for values this version does
/// not know; it serializes as the bare string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The spelling on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )*
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $( $text => Self::$variant, )*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct StrVisitor;
                impl serde::de::Visitor<'_> for StrVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        Ok($name::from(text))
                    }
                    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<$name, E> {
                        Ok(match text.as_str() {
                            $( $text => $name::$variant, )*
                            _ => $name::Other(text),
                        })
                    }
                }
                deserializer.deserialize_str(StrVisitor)
            }
        }
    };
}

/// Implements `Serialize`/`Deserialize` for an enum of `type`-tagged objects whose last variant
/// is `Other(Extra)`: known tags deserialize into their struct (without the `type` key), unknown
/// tags are kept whole, `type` included.
macro_rules! tagged_enum_serde {
    ($name:ident { $( $variant:ident => $tag:literal, )* }) => {
        impl $name {
            /// The `type` tag on the wire.
            pub fn kind(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $tag, )*
                    Self::Other(map) => map.get("type").and_then(serde_json::Value::as_str).unwrap_or(""),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Self::$variant(inner) => {
                        $crate::wire::serde_util::Tagged { kind: $tag, inner }.serialize(serializer)
                    } )*
                    Self::Other(map) => map.serialize(serializer),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                use serde::de::Error as _;
                let mut map = $crate::wire::serde_util::Extra::deserialize(deserializer)?;
                let tag = match map.remove("type") {
                    Some(serde_json::Value::String(tag)) => tag,
                    Some(_) => return Err(D::Error::custom("`type` must be a string")),
                    None => return Err(D::Error::missing_field("type")),
                };
                match tag.as_str() {
                    $( $tag => serde_json::from_value(serde_json::Value::Object(map))
                        .map(Self::$variant)
                        .map_err(|err| D::Error::custom(format_args!("in `{}`: {err}", $tag))), )*
                    _ => {
                        map.insert("type".to_owned(), serde_json::Value::String(tag));
                        Ok(Self::Other(map))
                    }
                }
            }
        }
    };
}

/// Implements `Serialize`/`Deserialize` for an enum that is either a string or an array, without
/// the buffering that `#[serde(untagged)]` does (which would copy large base64 payloads).
macro_rules! string_or_seq_serde {
    ($name:ident, $str_variant:ident, $seq_variant:ident, $elem:ty) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    Self::$str_variant(text) => serializer.serialize_str(text),
                    Self::$seq_variant(items) => items.serialize(serializer),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct StrOrSeq;
                impl<'de> serde::de::Visitor<'de> for StrOrSeq {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a string or an array")
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        Ok($name::$str_variant(text.to_owned()))
                    }
                    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<$name, E> {
                        Ok($name::$str_variant(text))
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<$name, A::Error> {
                        let items = <Vec<$elem> as serde::Deserialize>::deserialize(
                            serde::de::value::SeqAccessDeserializer::new(seq),
                        )?;
                        Ok($name::$seq_variant(items))
                    }
                }
                deserializer.deserialize_any(StrOrSeq)
            }
        }
    };
}

pub(crate) use {string_enum, string_or_seq_serde, tagged_enum_serde};

/// Deserializes a string that some OpenAI-compatible servers send as `null` or leave out.
pub(crate) fn string_or_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// Deserializes an optional string that some servers send as a number (error `code`s).
pub(crate) fn opt_stringish<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Stringish;
    impl Visitor<'_> for Stringish {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string, a number or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(text.to_owned()))
        }
        fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
            Ok(Some(text))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
            Ok(Some(n.to_string()))
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            Ok(Some(n.to_string()))
        }
        fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
            Ok(Some(n.to_string()))
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
            Ok(Some(b.to_string()))
        }
    }
    deserializer.deserialize_any(Stringish)
}
