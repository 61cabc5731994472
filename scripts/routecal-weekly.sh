#!/bin/sh
# routecal-weekly.sh REPO: one week of the routecal loop from cron, in the git clone REPO that
# holds the routing table (routes.toml) and its labelled dataset.
#
#   23 5 * * 1  /usr/local/bin/routecal-weekly.sh /srv/router >> /var/log/routecal.log 2>&1
#
# Each run:
#   1. refuses a clone with uncommitted changes to tracked files (exit 2: someone is working there),
#   2. checks out the main branch and pulls it, so it measures the table that was merged, never a
#      proposal branch left checked out or an old copy,
#   3. benchmarks (`routecal run`, within --max-spend when MAX_SPEND is set), counting the graded
#      items of the earlier runs in OUT within WINDOW for models that show no change
#      (`--history OUT --window WINDOW`, once OUT holds a run), compares with the previous run
#      (`routecal report PREVIOUS THIS`, written into this run's directory),
#   4. when the policy changes the table, commits the proposal on a branch routecal/<run-id>
#      and pushes it for review (PUSH=0: commit only),
#   5. returns to the branch or commit the clone was on, whatever happened.
#
# Settings (environment):
#   ROUTECAL      absolute path of the routecal binary [default: $HOME/.cargo/bin/routecal, where
#                 `cargo install` puts it]; cron's PATH does not hold ~/.cargo/bin, so no bare
#                 `routecal` is ever run
#   MAIN_BRANCH   the branch the router deploys from [main]; REMOTE the remote to pull and push [origin]
#   ROUTES        the routes file, relative to REPO [routes.toml]
#   DATASET       the dataset, relative to REPO [datasets/traffic/dataset.jsonl]
#   OUT           where run directories are kept, relative to REPO [reports]; keep it out of git
#   MAX_SPEND     USD limit of one run on live endpoints [none]
#   WINDOW        how far back earlier runs in OUT count as evidence [4w]; HISTORY=0 leaves
#                 --history out (each week decided on its own items)
#   PUSH          1 to push the proposal branch [1]
#   keys          the variables your endpoints name in api_key_env, e.g. PROMPTSTER_API_KEY
#
# Exit codes: 0 the week is done (table kept, or proposal committed), else routecal's or git's
# code (1 a failed run, 2 bad input or a busy clone).
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 REPO" >&2
  exit 2
fi
repo=$1
ROUTECAL=${ROUTECAL:-${HOME:-/root}/.cargo/bin/routecal}
MAIN_BRANCH=${MAIN_BRANCH:-main}
REMOTE=${REMOTE:-origin}
ROUTES=${ROUTES:-routes.toml}
DATASET=${DATASET:-datasets/traffic/dataset.jsonl}
OUT=${OUT:-reports}
PUSH=${PUSH:-1}
WINDOW=${WINDOW:-4w}
HISTORY=${HISTORY:-1}

case $ROUTECAL in
  /*) ;;
  *) echo "ROUTECAL must be an absolute path, not $ROUTECAL" >&2; exit 2 ;;
esac
if [ ! -x "$ROUTECAL" ]; then
  echo "$ROUTECAL is not an executable: install routecal (cargo install --locked --path .) or set ROUTECAL" >&2
  exit 2
fi

cd "$repo"
if ! git diff --quiet || ! git diff --cached --quiet; then
  echo "$repo has uncommitted changes: not touching it" >&2
  exit 2
fi

# Where the clone was, to go back there on every exit.
start=$(git symbolic-ref --quiet --short HEAD || git rev-parse HEAD)
applied=0
restore() {
  status=$?
  # The clone was clean when the script started: anything left uncommitted is the script's own.
  if ! git diff --quiet || ! git diff --cached --quiet; then
    git reset --quiet --hard HEAD || status=1
  fi
  if [ "$applied" = 1 ]; then rm -f "$ROUTES.bak"; fi
  git checkout --quiet "$start" || status=1
  exit "$status"
}
trap restore EXIT
trap 'exit 1' INT TERM HUP

git checkout --quiet "$MAIN_BRANCH"
if git remote get-url "$REMOTE" >/dev/null 2>&1; then
  git pull --quiet --ff-only "$REMOTE" "$MAIN_BRANCH"
fi

# Run directories are named by their start time, so the last one listed is the newest.
previous=""
for d in "$OUT"/*/; do
  if [ -f "$d/run.json" ]; then previous=${d%/}; fi
done

set -- run --routes "$ROUTES" --dataset "$DATASET" --out "$OUT" --json
if [ -n "${MAX_SPEND:-}" ]; then set -- "$@" --max-spend "$MAX_SPEND"; fi
# The earlier runs are evidence once OUT holds one (runs outside the window are not read).
if [ -n "$previous" ] && [ "$HISTORY" = 1 ]; then
  set -- "$@" --history "$OUT" --window "$WINDOW"
fi
outcome=$("$ROUTECAL" "$@")
dir=$(printf '%s\n' "$outcome" | sed -n 's/^ *"run_dir": *"\(.*\)",*$/\1/p')
if [ -z "$dir" ]; then
  echo "routecal run printed no run directory" >&2
  exit 1
fi
id=$(basename "$dir")
echo "run $id in $repo on $(git rev-parse --short HEAD) ($MAIN_BRANCH)"

if [ -n "$previous" ]; then
  "$ROUTECAL" report "$previous" "$dir" --quiet
  echo "compared with $(basename "$previous"): $dir/compare-$(basename "$previous").md"
fi

status=0
"$ROUTECAL" diff "$dir" --exit-code --quiet || status=$?
case $status in
  0) echo "the table stands" ;;
  3)
    applied=1
    "$ROUTECAL" apply "$dir" --routes "$ROUTES" --quiet
    rm -f "$ROUTES.bak" # apply's copy of the previous table: it is in git
    if git diff --quiet -- "$ROUTES"; then
      echo "routecal diff reports a change but routecal apply wrote nothing into $ROUTES" >&2
      exit 1
    fi
    branch="routecal/$id"
    git checkout --quiet -b "$branch"
    git commit --quiet -m "routes: accept the table proposed by routecal run $id" -- "$ROUTES"
    echo "proposal committed on $branch"
    if [ "$PUSH" = 1 ] && git remote get-url "$REMOTE" >/dev/null 2>&1; then
      git push --quiet "$REMOTE" "$branch"
      echo "pushed $branch to $REMOTE: open the review from it"
    fi
    ;;
  *) exit "$status" ;;
esac
