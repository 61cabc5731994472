//! The vocabulary of chat conversations shared by the dataset, the providers, the judge and the
//! router: who speaks a turn, a turn, and the canonical text a conversation is hashed by.

use std::sync::Arc;

use serde_json::Value;

/// Who speaks a turn of a chat item (OpenAI-style roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role's name on the wire and in the dataset.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One turn of a chat item: a role and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: Arc<str>,
}

/// The canonical form of a conversation, the text its hash is taken of: compact JSON,
/// `[{"content":"…","role":"system"},{"content":"…","role":"user"}]` (keys sorted, no
/// whitespace, JSON string escapes), turns in order.
pub fn canonical_messages(messages: &[Message]) -> String {
    let turns: Vec<Value> = messages
        .iter()
        .map(|m| serde_json::json!({"role": m.role.as_str(), "content": &*m.content}))
        .collect();
    Value::Array(turns).to_string()
}
