//! The smallest pieces of a catalog as written: keys that remember where they were written, and
//! scalars kept as the text a Dockerfile would see.

use std::hash::{Hash, Hasher};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A mapping key that remembers where it was written, so errors about an image point at its name.
#[derive(Debug, Deserialize)]
pub(super) struct Key(pub Spanned<String>);

impl Key {
    pub(super) fn name(&self) -> &str {
        &self.0.value
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.value == other.0.value
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.value.hash(state)
    }
}

/// A scalar written as string, number or boolean, kept as the text a Dockerfile would see:
/// `PORT: 6379` and `PORT: "6379"` mean the same build argument.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// String values of a scalar map, sorted by key: how build arguments are kept (their keys keep their
/// place in the file for the warning about a credential in a build argument).
pub(super) fn scalars(map: &IndexMap<Key, Scalar>) -> std::collections::BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.name().to_string(), v.0.clone()))
        .collect()
}

/// [`scalars`] of a map whose values keep their place in the file (labels).
pub(super) fn spanned_scalars(
    map: &IndexMap<String, Spanned<Scalar>>,
) -> std::collections::BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.value.0.clone()))
        .collect()
}
