#!/usr/bin/env bash
# Render report.html of both shipped suites and of the nine-model `sim` suite
# (tests/fixtures/nine-models) in headless Chromium at 1280 and 1920 px and fail on horizontal
# overflow (of the page or of any scrolling box, with every <details> closed and then opened), on
# chart texts that overlap or spill out of their SVG, or on any request the page makes.
# Screenshots are kept for a person to look at.
#
# usage: scripts/check-report-html.sh [ROUTECAL_BIN] [OUT_DIR]
#   ROUTECAL_BIN  default: target/debug/routecal (under $CARGO_TARGET_DIR when set)
#   OUT_DIR       where run folders, checked copies and screenshots go (default: a new temp dir)
#   WIDTHS        environment, default "1280 1920"
#
# How: report.html forbids scripts (Content-Security-Policy), so the check runs on a copy that
# differs only by that <meta> removed and one measuring <script> appended. Chromium loads the
# copy offline (file://, --virtual-time-budget lets the load event fire), the script writes its
# findings into a <pre id="overflow-check"> and --dump-dom prints the page. A box overflows
# when its scrollWidth exceeds its clientWidth; the page overflows when the scrolling element
# is wider than the window. Chart texts are measured as the browser lays them out
# (getBBox of every unrotated <text> in each <svg>): two that overlap by more than a pixel each
# way, or one outside its SVG's box, fail. The resource-timing list must be empty: the page
# fetches nothing.
# Exit status: 0 all fit, 1 something overflows or is fetched, 2 a tool is missing or a run failed.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-${CARGO_TARGET_DIR:-$here/target}/debug/routecal}"
out="${2:-$(mktemp -d)}"
widths="${WIDTHS:-1280 1920}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$browser" ]]; then
  echo "check-report-html: no chromium on PATH (Debian package: chromium)" >&2
  exit 2
fi
if [[ ! -x "$bin" ]]; then
  echo "check-report-html: no routecal binary at $bin" >&2
  exit 2
fi
mkdir -p "$out"

read -r -d '' probe <<'JS' || true
<script>
function measure(state) {
  const lines = [];
  const se = document.scrollingElement;
  if (se.scrollWidth > innerWidth) lines.push('FAIL ' + state + ': page is ' + se.scrollWidth + ' px wide in a ' + innerWidth + ' px window');
  for (const el of document.querySelectorAll('body *')) {
    if (el.id === 'overflow-check') continue;
    if (getComputedStyle(el).overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1) {
      const what = el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') +
        (el.firstElementChild && el.firstElementChild.className ? ' > .' + el.firstElementChild.className : '');
      lines.push('FAIL ' + state + ': ' + what + ' scrolls sideways (' + el.scrollWidth + ' > ' + el.clientWidth + ' px)');
    }
  }
  return lines;
}
function charts() {
  const lines = [];
  document.querySelectorAll('figure svg').forEach((svg, k) => {
    const fig = svg.closest('figure');
    const name = (fig && fig.id) || ('svg ' + k);
    const vb = svg.viewBox.baseVal;
    const w = (vb && vb.width) || svg.width.baseVal.value, h = (vb && vb.height) || svg.height.baseVal.value;
    const boxes = [];
    svg.querySelectorAll('text').forEach(t => {
      if (t.getAttribute('transform')) return;
      const b = t.getBBox();
      if (!b.width) return;
      if (b.x < -1 || b.y < -1 || b.x + b.width > w + 1 || b.y + b.height > h + 1)
        lines.push('FAIL chart ' + name + ': "' + t.textContent.trim() + '" spills out of the chart');
      boxes.push([b, t.textContent.trim()]);
    });
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [a, at] = boxes[i], [b, bt] = boxes[j];
      const dx = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
      const dy = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
      if (dx > 1 && dy > 1) lines.push('FAIL chart ' + name + ': "' + at + '" overlaps "' + bt + '"');
    }
  });
  return lines;
}
addEventListener('load', () => {
  let lines = measure('closed').concat(charts());
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  lines = lines.concat(measure('details open'));
  const fetched = performance.getEntriesByType('resource').map(r => r.name);
  if (fetched.length) lines.push('FAIL requests: ' + fetched.join(' '));
  if (!lines.length) lines.push('OK');
  const pre = document.createElement('pre');
  pre.id = 'overflow-check';
  pre.textContent = lines.join('\n');
  document.body.appendChild(pre);
});
</script>
JS

status=0
for suite in mt-bench llm-drift nine-models; do
  runs="$out/runs-$suite"
  rm -rf "$runs"
  dir="$here/datasets/$suite"
  [[ -d "$dir" ]] || dir="$here/tests/fixtures/$suite"
  if ! "$bin" run --suite "$dir" --out "$runs" --quiet >"$out/$suite.log" 2>&1; then
    echo "check-report-html: the $suite run failed (see $out/$suite.log)" >&2
    exit 2
  fi
  report="$(ls -d "$runs"/*/)report.html"
  copy="$out/$suite.checked.html"
  sed -e 's|<meta http-equiv="Content-Security-Policy"[^>]*>||' "$report" >"$copy"
  printf '%s\n' "$probe" >>"$copy"
  for w in $widths; do
    flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
           --disable-background-networking --disable-component-update
           "--window-size=$w,2000")
    result="$(timeout 120 "$browser" "${flags[@]}" --virtual-time-budget=5000 --dump-dom \
      "file://$copy" 2>/dev/null | sed -n '/<pre id="overflow-check">/,/<\/pre>/p' \
      | sed -e 's/<[^>]*>//g' -e 's/&gt;/>/g' -e 's/&lt;/</g' -e 's/&amp;/\&/g')"
    if [[ -z "$result" ]]; then
      echo "$suite @ ${w}px: FAIL no result (chromium did not finish the page)"
      status=1
      continue
    fi
    # The screenshot is of the report itself, CSP and all.
    timeout 120 "$browser" "${flags[@]/--window-size=$w,2000/--window-size=$w,2400}" \
      "--screenshot=$out/$suite-$w.png" "file://$report" >/dev/null 2>&1 || true
    while IFS= read -r line; do
      echo "$suite @ ${w}px: $line"
    done <<<"$result"
    if grep -q '^FAIL' <<<"$result"; then
      status=1
    fi
  done
done
echo "screenshots: $out"
exit "$status"
