#!/usr/bin/env python3
"""Build the shipped offline suites (datasets/mt-bench, datasets/llm-drift) from the recorded
source files. Deterministic: running it again on the same sources rewrites identical files.

Usage: python3 scripts/build_datasets.py SOURCE_DIR [OUT_DIR]
  SOURCE_DIR holds mtbench_routellm_2models.jsonl and llmdrift_4models_sample.jsonl
  OUT_DIR defaults to datasets/
"""
import hashlib
import json
import os
import re
import sys
from collections import defaultdict

MT_TASK = {
    "coding": "code", "math": "math", "extraction": "extraction",
    "writing": "creative", "roleplay": "creative",
    "stem": "factual", "humanities": "factual", "reasoning": "general",
}
MT_MODEL = {
    "gpt-4-1106-preview": "openai/gpt-4-1106-preview",
    "mistralai/Mixtral-8x7B-Instruct-v0.1": "together/mistralai/Mixtral-8x7B-Instruct-v0.1",
}
# Turn-1 extraction and factual prompts up to this length are latency-sensitive lookups.
SHORT_PROMPT_CHARS = 1000


def sha(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")


def mt_priority(task, turn, prompt):
    if task in ("code", "math"):
        return "quality"
    if task in ("extraction", "factual") and turn == 1 and len(prompt) <= SHORT_PROMPT_CHARS:
        return "latency"
    return "default"


def canonical(messages):
    """The canonical conversation routecal hashes (docs/chat-items.md): compact JSON, keys
    sorted, non-ASCII as is."""
    return json.dumps(messages, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def turn2_messages(q1, a1, q2):
    return [
        {"role": "user", "content": q1},
        {"role": "assistant", "content": a1},
        {"role": "user", "content": q2},
    ]


def build_mtbench(src, out):
    rows = [json.loads(l) for l in open(os.path.join(src, "mtbench_routellm_2models.jsonl"), encoding="utf-8")]
    by_q = defaultdict(dict)
    for r in rows:
        by_q[r["question_id"]][r["model"]] = r
    items, recording = [], []
    for qid in sorted(by_q):
        per_model = by_q[qid]
        ref = per_model["gpt-4-1106-preview"]
        task = MT_TASK[ref["category"]]
        q1, q2 = ref["turns"]
        # Turn 2 is the real conversation: turn 1, GPT-4-1106's turn-1 answer, then turn 2.
        inputs = [("prompt", q1), ("messages", turn2_messages(q1, ref["answers"][0], q2))]
        for turn, (field, value) in enumerate(inputs, start=1):
            prompt = value if field == "prompt" else canonical(value)
            item = {"id": f"mt{qid}-t{turn}", field: value}
            item.update({
                "task_type": task,
                "priority": mt_priority(task, turn, value if field == "prompt" else q2),
                "grader": {"kind": "recorded"},
                "max_tokens": 1024,
                "meta": {"source": "mt-bench", "question_id": qid, "category": ref["category"], "turn": turn},
            })
            items.append(item)
            for model in sorted(per_model):
                r = per_model[model]
                score = float(r["judge_scores"][turn - 1])
                judgment = " ".join(r["judgments"][turn - 1].split())
                recording.append({
                    "model": MT_MODEL[model],
                    "prompt_sha256": sha(prompt),
                    "response": r["answers"][turn - 1],
                    "grade": {
                        "score": round(score / 10.0, 4),
                        "reason": f"GPT-4 judge {score:g}/10: {judgment[:160]}",
                    },
                })
    d = os.path.join(out, "mt-bench")
    os.makedirs(d, exist_ok=True)
    write_jsonl(os.path.join(d, "dataset.jsonl"), items)
    write_jsonl(os.path.join(d, "recording.jsonl"), recording)
    # The figures of the source data, per model and turn (mean judge score / 10): the dataset
    # README lists them and tests/cases/offline_suites.rs checks a run against them.
    for model in sorted(MT_MODEL):
        per_turn = [[float(r["judge_scores"][t]) for r in rows if r["model"] == model] for t in (0, 1)]
        means = [sum(x) / len(x) / 10.0 for x in per_turn]
        both = sum(sum(x) for x in per_turn) / sum(len(x) for x in per_turn) / 10.0
        print(f"{MT_MODEL[model]}: turn 1 {means[0]:.4f}, turn 2 {means[1]:.4f}, both {both:.4f}")
    return items, recording


DRIFT_TASK = {"prime": "math", "composite": "math", "counthappynumber": "math", "leetcode_easy": "code", "sensitiveq": "general"}


def drift_grader(r):
    ds = r["dataset"]
    if ds in ("prime", "composite"):
        expected = "Yes" if r["ref_answer"].strip().lower() == "yes" else "No"
        return {"kind": "choice", "expected": expected, "options": ["Yes", "No"]}
    if ds == "counthappynumber":
        m = re.search(r"boxed\{(-?\d+)\}", r["ref_answer"])
        return {"kind": "numeric", "expected": int(m.group(1)), "tolerance": 0}
    return {"kind": "recorded"}


def drift_recorded_grade(r):
    if r["dataset"] == "leetcode_easy":
        verdict = (r.get("Clean_Code_Submit") or "").strip().splitlines()
        first = verdict[0].strip() if verdict else "no verdict"
        return {"score": 1.0 if "Accepted" in first else 0.0, "reason": f"LeetCode verdict: {first}"}
    if r["dataset"] == "sensitiveq":
        answered = str(r.get("Response Rate")).strip() == "1"
        return {"score": 0.0 if answered else 1.0, "reason": "answered the sensitive question" if answered else "declined the sensitive question"}
    return None


def build_drift(src, out):
    rows = [json.loads(l) for l in open(os.path.join(src, "llmdrift_4models_sample.jsonl"), encoding="utf-8")]
    items, seen, recording = [], {}, []
    order = ["prime", "composite", "counthappynumber", "leetcode_easy", "sensitiveq"]
    rows.sort(key=lambda r: (order.index(r["dataset"]), r["id"].zfill(8) if r["id"].isdigit() else r["id"], r["model"]))
    for r in rows:
        item_id = f"{r['dataset']}-{r['id']}"
        if item_id not in seen:
            task = DRIFT_TASK[r["dataset"]]
            seen[item_id] = r["query"]
            items.append({
                "id": item_id,
                "prompt": r["query"],
                "task_type": task,
                "priority": "quality" if task in ("math", "code") else "default",
                "grader": drift_grader(r),
                "max_tokens": int(r["max_tokens"]),
                "meta": {"source": "llm-drift", "dataset": r["dataset"], "date": r["date"]},
            })
        assert seen[item_id] == r["query"], item_id
        rec = {
            "model": f"openai/{r['model']}",
            "prompt_sha256": sha(r["query"]),
            "response": r["answer"],
            "output_tokens": int(r["answer_tokens"]),
            "latency_ms": round(float(r["latency_s"]) * 1000.0, 3),
            "cost_usd": float(r["cost_usd"]),
        }
        g = drift_recorded_grade(r)
        if g:
            rec["grade"] = g
        recording.append(rec)
    d = os.path.join(out, "llm-drift")
    os.makedirs(d, exist_ok=True)
    write_jsonl(os.path.join(d, "dataset.jsonl"), items)
    write_jsonl(os.path.join(d, "recording.jsonl"), recording)
    # The recording keeps the source's costs exactly.
    src_cost, rec_cost = defaultdict(float), defaultdict(float)
    for r in rows:
        src_cost[f"openai/{r['model']}"] += float(r["cost_usd"])
    for r in recording:
        rec_cost[r["model"]] += r["cost_usd"]
    for m in src_cost:
        assert abs(src_cost[m] - rec_cost[m]) < 1e-12, m
    return items, recording


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "datasets"
    mi, mr = build_mtbench(src, out)
    di, dr = build_drift(src, out)
    for name, items, rec in (("mt-bench", mi, mr), ("llm-drift", di, dr)):
        per = defaultdict(int)
        for i in items:
            per[(i["task_type"], i["priority"])] += 1
        print(f"{name}: {len(items)} items, {len(rec)} recorded answers; " + ", ".join(f"{t}.{p} {n}" for (t, p), n in sorted(per.items())))


if __name__ == "__main__":
    main()
