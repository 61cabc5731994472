#!/usr/bin/env bash
# Run the small labelled suite in scripts/live-local/ live against the local OpenAI-compatible
# server of local-llm: two small real models (smollm2-135m, gemma-3-270m) on 127.0.0.1:8088,
# smollm2-135m classifying and both answering, streamed so time to first token is measured.
# Not part of CI: it needs the server running (local-llm's setup.sh once, then start.sh).
#
#   scripts/live-local.sh [routecal run options...]
#
# Leaves the run in $OUT (default reports/live-local/<run-id>/) with a replay recording of every
# answer in $OUT/recording.jsonl, and prints latency, time to first token and quality per model.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_URL="http://127.0.0.1:8088/v1"
OUT="${OUT:-reports/live-local}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/routecal/target}"

# /v1/models waits behind a running generation, hence the long timeout.
if ! curl -fsS -m 60 "$BASE_URL/models" >/dev/null; then
  echo "live-local.sh: no server answers at $BASE_URL; start local-llm's start.sh first" >&2
  exit 1
fi

cargo build --quiet
mkdir -p "$OUT"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$CARGO_TARGET_DIR/debug/routecal" run --suite scripts/live-local --out "$OUT" \
  --record "$OUT/recording.jsonl" "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

RUN_DIR="$(ls -td "$OUT"/*/ | head -n 1)"
python3 - "$RUN_DIR" <<'PY'
import csv, statistics, sys
run = sys.argv[1]

def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

def num(r, k):
    return float(r[k]) if r.get(k) not in (None, "") else None

print(f"\nLive figures from {run}results.csv and classifier_predictions.csv (milliseconds)")
print(f"{'model':<22} {'role':<10} {'n':>3} {'ok':>3} {'quality':>8} {'lat p50':>8} {'lat p95':>8} {'ttft p50':>9} {'out tok':>8}")
rows = list(csv.DictReader(open(run + "results.csv")))
for model in sorted({r["model"] for r in rows}):
    rs = [r for r in rows if r["model"] == model]
    ok = [r for r in rs if r["ok"] == "true"]
    lat = [num(r, "latency_ms") for r in ok]
    ttft = [num(r, "ttft_ms") for r in ok if num(r, "ttft_ms") is not None]
    scores = [num(r, "score") for r in ok if num(r, "score") is not None]
    out_tok = [num(r, "output_tokens") for r in ok]
    est = "*" if any(r["tokens_source"] == "estimated" for r in ok) else " "
    print(f"{model:<22} {'candidate':<10} {len(rs):>3} {len(ok):>3} {statistics.mean(scores) if scores else float('nan'):>8.3f}"
          f" {pct(lat, .5):>8.0f} {pct(lat, .95):>8.0f} {pct(ttft, .5):>9.0f} {statistics.mean(out_tok) if out_tok else 0:>7.1f}{est}")
preds = list(csv.DictReader(open(run + "classifier_predictions.csv")))
for clf in sorted({r["classifier"] for r in preds}):
    ps = [r for r in preds if r["classifier"] == clf]
    ok = [r for r in ps if r["ok"] == "true"]
    both = sum(1 for r in ok if r["task_correct"] == "true" and r["priority_correct"] == "true")
    task = sum(1 for r in ok if r["task_correct"] == "true")
    lat = [num(r, "latency_ms") for r in ok]
    print(f"{clf:<22} {'classifier':<10} {len(ps):>3} {len(ok):>3} {both / max(len(ps), 1):>8.3f}"
          f" {pct(lat, .5):>8.0f} {pct(lat, .95):>8.0f} {'':>9} {'':>8}   task accuracy {task}/{len(ps)}")
print("quality: mean grade of the candidates; for classifiers, the share with both labels right.")
print("* output tokens estimated (one per four characters): the server sends no usage when streaming.")
PY
