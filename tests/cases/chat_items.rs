//! Chat items (`messages` instead of `prompt`) reach candidates as turns in each wire format:
//! OpenAI `messages` as they are, Anthropic's system prompt as the top-level `system` field;
//! the classifier sees the last user message; recordings key on a hash of the whole
//! conversation, so a replay answers the conversation, not just its last turn.

use serde_json::{Value, json};

use crate::common::server::{Reply, Request, Server, wire_answer};
use crate::common::*;

const KEY_ENV: &str = "ROUTECAL_TEST_CHAT_KEY";
const KEY: &str = "sk-routecal-chat-test-4d1e8b";

fn reply(r: &Request) -> Reply {
    let b = r.json();
    let model = b["model"].as_str().unwrap_or("").to_string();
    let text = if model == "clf" {
        "math quality".to_string()
    } else {
        format!("answer-{model}")
    };
    wire_answer(&r.path, &model, &text)
}

/// Live endpoints on the in-process server.
fn live(url: &str) -> (String, String) {
    let ep = |kind: &str| {
        format!(
            "kind = \"{kind}\"\nbase_url = \"{url}/v1\"\napi_key_env = \"{KEY_ENV}\"\ntimeout_s = 5\nmax_attempts = 1\n"
        )
    };
    (ep("openai"), ep("anthropic"))
}

/// Two endpoints (`oai` for the classifier and `acme/gpt`, `ant` for `acme/claude`).
fn routes((oai, ant): (String, String)) -> String {
    format!(
        r#"[classifier]
model = "acme/clf"

[endpoints.oai]
{oai}
[endpoints.ant]
{ant}
[models."acme/clf"]
endpoint = "oai"
tier = "budget"
candidate = false
input_per_mtok = 0.1
output_per_mtok = 0.2

[models."acme/gpt"]
endpoint = "oai"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 2.0

[models."acme/claude"]
endpoint = "ant"
tier = "budget"
input_per_mtok = 3.0
output_per_mtok = 4.0

[default]
primary = "acme/gpt"
fallback = "acme/claude"
"#
    )
}

fn turns() -> Value {
    json!([
        {"role": "system", "content": "You are a terse maths tutor."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And doubled?"}
    ])
}

fn dataset() -> String {
    let chat = json!({"id": "chat1", "messages": turns(), "task_type": "math",
        "priority": "quality", "grader": {"kind": "contains", "any": ["answer"]}});
    let plain = json!({"id": "plain1", "prompt": "What is 3+3?", "task_type": "math",
        "priority": "quality", "grader": {"kind": "contains", "any": ["answer"]}});
    format!("{chat}\n{plain}\n")
}

fn run(dir: &std::path::Path, routes: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let args = [
        &[
            "run",
            "--routes",
            routes,
            "--dataset",
            "dataset.jsonl",
            "--out",
            out,
        ][..],
        extra,
    ]
    .concat();
    bin()
        .args(&args)
        .current_dir(dir)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap()
}

/// The canonical conversation text the hashes are taken of (keys sorted, compact).
fn canonical(v: &Value) -> String {
    v.to_string()
}

#[test]
fn chat_items_arrive_as_turns_in_each_wire_format_and_replay_by_conversation() {
    let server = Server::start(reply);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("routes.toml"), routes(live(&server.url()))).unwrap();
    std::fs::write(d.join("dataset.jsonl"), dataset()).unwrap();
    let o = run(d, "routes.toml", "reports", &["--record", "rec.jsonl"]);
    ok(&o);
    let reqs = server.requests();
    let by = |model: &str, needle: &str| -> Vec<Value> {
        reqs.iter()
            .map(|r| (r.path.clone(), r.json()))
            .filter(|(_, b)| b["model"] == model && b.to_string().contains(needle))
            .map(|(p, mut b)| {
                b["path"] = p.into();
                b
            })
            .collect()
    };

    // OpenAI: the turns as sent.
    let gpt = by("gpt", "doubled");
    assert_eq!(gpt.len(), 1, "{gpt:?}");
    assert_eq!(gpt[0]["messages"], turns());
    // Anthropic: the system prompt as the top-level field, the other turns as messages.
    let claude = by("claude", "doubled");
    assert_eq!(claude.len(), 1, "{claude:?}");
    assert!(claude[0]["path"].as_str().unwrap().ends_with("/messages"));
    assert_eq!(claude[0]["system"], "You are a terse maths tutor.");
    assert_eq!(
        claude[0]["messages"],
        json!(turns().as_array().unwrap()[1..])
    );
    // A prompt item is still one user turn, with no system field.
    let plain = by("claude", "3+3");
    assert_eq!(
        plain[0]["messages"],
        json!([{"role": "user", "content": "What is 3+3?"}])
    );
    assert!(plain[0].get("system").is_none());
    // The classifier saw the last user message, not the system prompt or earlier turns.
    let clf = by("clf", "doubled");
    assert_eq!(clf.len(), 1, "{clf:?}");
    let clf_text = clf[0].to_string();
    assert!(!clf_text.contains("terse maths tutor") && !clf_text.contains("2+2"));

    // The recording and the journal key on the whole conversation.
    let sha = sha256(&canonical(&turns()));
    let rec = read_jsonl(&d.join("rec.jsonl"));
    let keyed: Vec<&Value> = rec
        .iter()
        .filter(|r| r["prompt_sha256"] == sha.as_str())
        .collect();
    assert_eq!(keyed.len(), 2, "both candidates: {rec:?}");
    // Replayed from the recording: the conversation is found without a call.
    let ep = "kind = \"replay\"\npath = \"rec.jsonl\"\n".to_string();
    let replay = routes((ep.clone(), ep));
    std::fs::write(d.join("replay.toml"), replay).unwrap();
    let before = server.requests().len();
    let o = run(d, "replay.toml", "replayed", &[]);
    ok(&o);
    assert_eq!(server.requests().len(), before, "a replay calls nothing");
    let results = read_csv(&only_run_dir(&d.join("replayed")).join("results.csv"));
    let chat: Vec<_> = results.iter().filter(|r| r["item_id"] == "chat1").collect();
    assert_eq!(chat.len(), 2, "{results:?}");
    for r in chat {
        assert!(r["answer"].starts_with("answer-"), "{r:?}");
    }
}

#[test]
fn a_malformed_conversation_is_refused_before_any_call() {
    let server = Server::start(reply);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("routes.toml"), routes(live(&server.url()))).unwrap();
    let bad = json!({"id": "c", "messages": [{"role": "user", "content": "hi"},
        {"role": "system", "content": "late"}, {"role": "user", "content": "x"}],
        "task_type": "math", "priority": "quality",
        "grader": {"kind": "contains", "any": ["a"]}});
    std::fs::write(d.join("dataset.jsonl"), format!("{}{bad}\n", dataset())).unwrap();
    let o = run(d, "routes.toml", "reports", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("dataset.jsonl:3: messages[1].role: a system turn must be the first"),
        "{err}"
    );
    assert!(server.requests().is_empty(), "no call was made");
    assert!(
        !d.join("reports").exists()
            || std::fs::read_dir(d.join("reports"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn promptster_takes_a_one_turn_chat_as_its_prompt_and_refuses_a_conversation() {
    let server = Server::start(|_: &Request| {
        Reply::json(
            200,
            json!({"response": "answer-p", "metadata": {"input_tokens": 5, "output_tokens": 2}}),
        )
    });
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let routes = format!(
        r#"[classifier]
model = "builtin/keywords"

[endpoints.kw]
kind = "keywords"

[endpoints.ps]
kind = "promptster"
base_url = "{url}/v1"
api_key_env = "{KEY_ENV}"
timeout_s = 5
max_attempts = 1

[models."builtin/keywords"]
endpoint = "kw"
tier = "budget"

[models."openai/alpha"]
endpoint = "ps"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 2.0

[default]
primary = "openai/alpha"
"#,
        url = server.url()
    );
    std::fs::write(d.join("routes.toml"), routes).unwrap();
    let one = json!({"id": "one", "messages": [{"role": "user", "content": "Only turn"}],
        "task_type": "math", "priority": "quality",
        "grader": {"kind": "contains", "any": ["answer"]}});
    let conv = json!({"id": "conv", "messages": turns(), "task_type": "math",
        "priority": "quality", "grader": {"kind": "contains", "any": ["answer"]}});
    std::fs::write(d.join("dataset.jsonl"), format!("{one}\n{conv}\n")).unwrap();
    let o = run(d, "routes.toml", "reports", &[]);
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
    let sent: Vec<Value> = server.requests().iter().map(Request::json).collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["prompt"], "Only turn");
    assert!(!sent.iter().any(|b| b.to_string().contains("doubled")));
    let journal = read_jsonl(&only_run_dir(&d.join("reports")).join("journal.jsonl"));
    let row = journal
        .iter()
        .find(|r| r["kind"] == "candidate" && r["item"] == "conv")
        .unwrap();
    assert_eq!(row["error_kind"], "bad_request", "{row}");
    assert!(
        row["error"].as_str().unwrap().contains("one prompt"),
        "{row}"
    );
}

#[test]
fn a_null_prompt_or_messages_counts_as_absent_and_other_combinations_keep_their_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::copy(
        repo().join("datasets/mt-bench/routes.toml"),
        d.join("routes.toml"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("datasets/mt-bench/recording.jsonl"),
        d.join("recording.jsonl"),
    )
    .unwrap();
    let item = |id: &str, prompt: serde_json::Value, messages: serde_json::Value| {
        json!({"id": id, "prompt": prompt, "messages": messages, "task_type": "math",
            "priority": "quality", "grader": {"kind": "contains", "any": ["a"]}})
        .to_string()
    };
    let turns = json!([{"role": "user", "content": "hi"}]);
    let good = format!(
        "{}\n{}\n",
        item("chat", serde_json::Value::Null, turns.clone()),
        item("plain", json!("hi"), serde_json::Value::Null)
    );
    let validate = |dataset: &str| {
        std::fs::write(d.join("dataset.jsonl"), dataset).unwrap();
        run_in(
            d,
            &[
                "validate",
                "--routes",
                "routes.toml",
                "--dataset",
                "dataset.jsonl",
            ],
        )
    };
    let o = validate(&good);
    ok(&o);
    assert!(
        stdout(&o).contains("dataset.jsonl: ok (2 items"),
        "{}",
        stdout(&o)
    );
    for (line, want) in [
        (
            item("none", serde_json::Value::Null, serde_json::Value::Null),
            "dataset.jsonl:3: prompt: missing (or give messages)",
        ),
        (
            item("both", json!("hi"), turns.clone()),
            "dataset.jsonl:3: messages: give either prompt or messages, not both",
        ),
        (
            item("number", json!(7), serde_json::Value::Null),
            "dataset.jsonl:3: prompt: must be a string",
        ),
    ] {
        let o = validate(&format!("{good}{line}\n"));
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(want), "{want}\n{}", stderr(&o));
    }
}
