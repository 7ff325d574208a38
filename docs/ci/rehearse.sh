#!/usr/bin/env bash
# Rehearse the CI gate (docs/ci/probecheck.yml) on this machine: the same commands, run twice,
# on a benign candidate (must pass, exit 0) and on one that lost the eye channel (must fail,
# exit 1). Everything is written into a temporary directory, which is kept and printed.
#
#   docs/ci/rehearse.sh                # from the repository root
#   PYTHON=.venv/bin/python docs/ci/rehearse.sh
#
# The weights come from PROBECHECK_WEIGHTS_DIR or the cache (downloaded there if missing), as in
# the workflow's "Fetch the pretrained weights" step.
set -uo pipefail

cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python}
# Without PYTHON=, the python on PATH must have probecheck and torch: say so, not a traceback.
if ! "$PYTHON" -c "import probecheck, torch" >/dev/null 2>&1; then
    echo "rehearse.sh: '$PYTHON' cannot import probecheck and torch; run it with the Python" \
        "they are installed in, e.g. PYTHON=.venv/bin/python docs/ci/rehearse.sh" >&2
    exit 2
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/probecheck-rehearsal.XXXXXX")
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the checkout

# The gate job's pytest arguments, as written in docs/ci/probecheck.yml.
GATE_ARGS=(--probe-specs specs/ --probe-baseline specs/baseline.json
           --probe-baseline-strict)

echo "rehearsal directory: $WORK"
"$PYTHON" -c "from probecheck.zoo import store; print(store.fetch(store.DEEP_COMPRESSION))" || exit 2

status=0
for variant in benign lose-eyes; do
    flags=()
    expected=0
    if [ "$variant" = lose-eyes ]; then flags=(--lose-eyes); expected=1; fi
    echo
    echo "=== candidate: $variant (the gate must exit $expected) ==="
    "$PYTHON" docs/ci/make_candidate.py "$WORK/$variant.pt" ${flags[@]+"${flags[@]}"} || exit 2
    report="$WORK/$variant-report"
    # -o cache_dir keeps pytest's own cache out of the checkout too.
    "$PYTHON" -m pytest "${GATE_ARGS[@]}" --probe-weights "$WORK/$variant.pt" \
        --probe-report "$report" --junitxml "$report/junit.xml" \
        -o cache_dir="$WORK/pytest-cache"
    code=$?
    echo "=== $variant: exit $code (expected $expected); report in $report ==="
    [ "$code" -eq "$expected" ] || status=1
done
echo
if [ "$status" -eq 0 ]; then
    echo "rehearsal: as expected (benign candidate passed, lost eye channel failed)"
else
    echo "rehearsal: NOT as expected"
fi
exit "$status"
