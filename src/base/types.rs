//! Domain vocabulary shared by every stage: task types, priorities, cells, model ids and units.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! label_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in the order reports list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted spellings, for error messages.
            pub fn expected() -> String {
                [$($text),+].join(", ")
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} {:?} (expected one of {})",
                        $what, other, $name::expected()
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

label_enum!(
    /// What a prompt asks for; the first axis of the routing table.
    TaskType, "task type", {
        Code => "code",
        Math => "math",
        Extraction => "extraction",
        Creative => "creative",
        Factual => "factual",
        General => "general",
    }
);

label_enum!(
    /// What matters most for a prompt; the second axis of the routing table.
    Priority, "priority", {
        Latency => "latency",
        Quality => "quality",
        Default => "default",
    }
);

label_enum!(
    /// Model class; fallbacks stay within the primary's tier.
    Tier, "tier", {
        Frontier => "frontier",
        Speed => "speed",
        Budget => "budget",
    }
);

/// One entry of the routing table: `(task_type, priority)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub task: TaskType,
    pub priority: Priority,
}

impl Cell {
    pub fn new(task: TaskType, priority: Priority) -> Self {
        Cell { task, priority }
    }

    /// Every cell of the grid, task-major.
    pub fn all() -> impl Iterator<Item = Cell> {
        TaskType::ALL
            .iter()
            .flat_map(|&t| Priority::ALL.iter().map(move |&p| Cell::new(t, p)))
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.task, self.priority)
    }
}

impl FromStr for Cell {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (t, p) = s.split_once('.').ok_or_else(|| {
            format!("cell {s:?} is not of the form task.priority (e.g. code.quality)")
        })?;
        Ok(Cell::new(t.parse()?, p.parse()?))
    }
}

/// `provider/model`: the provider and the model name sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelId(String);

impl ModelId {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some((p, m))
                if !p.is_empty() && !m.is_empty() && !s.chars().any(char::is_whitespace) =>
            {
                Ok(ModelId(s.to_string()))
            }
            _ => Err(format!(
                "model id {s:?} is not of the form provider/model (e.g. openai/gpt-5.2)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The provider part, before the first `/`.
    pub fn provider(&self) -> &str {
        self.0.split_once('/').map(|(p, _)| p).unwrap_or(&self.0)
    }

    /// The model part, after the first `/` (may itself contain `/`).
    pub fn name(&self) -> &str {
        self.0.split_once('/').map(|(_, m)| m).unwrap_or(&self.0)
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// US dollars.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Usd(pub f64);

impl std::ops::Add for Usd {
    type Output = Usd;
    fn add(self, o: Usd) -> Usd {
        Usd(self.0 + o.0)
    }
}

impl std::ops::AddAssign for Usd {
    fn add_assign(&mut self, o: Usd) {
        self.0 += o.0;
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v != 0.0 && v.abs() < 0.01 {
            write!(f, "${v:.6}")
        } else {
            write!(f, "${v:.2}")
        }
    }
}

/// Milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub f64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 10_000.0 {
            write!(f, "{:.1} s", self.0 / 1000.0)
        } else {
            write!(f, "{:.0} ms", self.0)
        }
    }
}

/// Lowercase hex SHA-256 of some bytes; the key of replay recordings and run hashes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        use std::fmt::Write;
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_id_splits_at_first_slash() {
        let m = ModelId::parse("together/mistralai/Mixtral-8x7B").unwrap();
        assert_eq!(m.provider(), "together");
        assert_eq!(m.name(), "mistralai/Mixtral-8x7B");
        assert!(ModelId::parse("gpt-4").is_err());
        assert!(ModelId::parse("/gpt-4").is_err());
        assert!(ModelId::parse("openai/").is_err());
    }

    #[test]
    fn labels_round_trip_and_reject_unknown() {
        for t in TaskType::ALL {
            assert_eq!(t.as_str().parse::<TaskType>().unwrap(), *t);
        }
        let err = "coding".parse::<TaskType>().unwrap_err();
        assert!(
            err.contains("coding") && err.contains("extraction"),
            "{err}"
        );
        assert_eq!(
            "math.latency".parse::<Cell>().unwrap(),
            Cell::new(TaskType::Math, Priority::Latency)
        );
        assert!("math".parse::<Cell>().is_err());
        assert_eq!(Cell::all().count(), 18);
    }

    #[test]
    fn sha256_of_empty_string() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
