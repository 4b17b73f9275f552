#!/usr/bin/env bash
# Runs every real-client test script (or the ones named) and prints a summary.
#   ./run_all.sh                       # all
#   ./run_all.sh skopeo podman         # a subset (names with or without _test.sh)
# Each script's full output goes to $BERTH_IT_OUT (default /tmp/berth-clients-out)/<name>.out.
# Environment: see lib.sh (BERTH_BIN, BERTH_CREDS, ...). PER_TEST_TIMEOUT (default 1200 s).
set -uo pipefail
cd "$(dirname "$0")" || exit 1
OUT=${BERTH_IT_OUT:-/tmp/berth-clients-out}
PER_TEST_TIMEOUT=${PER_TEST_TIMEOUT:-1200}
mkdir -p "$OUT"

ALL=(skopeo podman buildah containerd big_layer crash)
if (($#)); then TESTS=("$@"); else TESTS=("${ALL[@]}"); fi

declare -A RESULT TIME
failed=0
for t in "${TESTS[@]}"; do
  t=${t%.sh}
  t=${t%_test}
  script=./${t}_test.sh
  [[ -x $script ]] || { echo "no such test: $script" >&2; RESULT[$t]="MISSING"; failed=1; continue; }
  printf '=== %-12s ' "$t"
  start=$SECONDS
  timeout --kill-after=30 "$PER_TEST_TIMEOUT" "$script" >"$OUT/$t.out" 2>&1
  rc=$?
  TIME[$t]=$((SECONDS - start))
  if ((rc == 0)); then
    RESULT[$t]="PASS"
  elif ((rc == 124)); then
    RESULT[$t]="TIMEOUT"
    failed=1
  else
    RESULT[$t]="FAIL($rc)"
    failed=1
  fi
  printf '%-10s %4ss  %s\n' "${RESULT[$t]}" "${TIME[$t]}" "$OUT/$t.out"
  if ((rc != 0)); then
    grep -E '^(FAIL|!!!)' "$OUT/$t.out" | head -n 5 | sed 's/^/      /'
  fi
  grep -h '^peak RSS' "$OUT/$t.out" | sed 's/^/      /'
done

echo
echo "summary:"
for t in "${TESTS[@]}"; do
  t=${t%.sh}
  t=${t%_test}
  printf '  %-12s %s\n' "$t" "${RESULT[$t]:-?}"
done
exit "$failed"
