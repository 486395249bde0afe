#!/usr/bin/env bash
# The GPU check in one command: the test suite's gpu-marked tests, then the batch stages timed
# on every device given (benchmarks/gpu_check.py), printing one table.
#
#   bash benchmarks/gpu_check.sh                                  # cpu and cuda, default sizes
#   bash benchmarks/gpu_check.sh --devices cpu --tiny --out DIR   # what CI runs: cannot rot
#
# Arguments go to gpu_check.py (default --out: a new temporary folder). Without cuda among the
# devices the gpu-marked tests are not run (they need a GPU): the script says so.
set -euo pipefail
tests_failed=0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
args=("$@")
case " ${args[*]-} " in *" --out "*) ;; *) args+=(--out "$(mktemp -d)/gpu-check") ;; esac
case " ${args[*]-} " in *" --devices "*) ;; *) args+=(--devices cpu cuda) ;; esac
devices="$(printf '%s\n' "${args[@]}" | sed -n '/^--devices$/,/^--/p' | grep -v '^--' || true)"
if printf '%s\n' "$devices" | grep -q '^cuda'; then
    # Only the files that hold gpu-marked tests: collecting the whole suite would import
    # every optional feature's packages, which a bare GPU machine may not have.
    mapfile -t files < <(grep -rl --include='test_*.py' 'pytest.mark.gpu' "$here/../tests")
    echo "== gpu-marked tests (${#files[@]} files)"
    # A failure is reported at the end: the timings still run (they say where else it breaks).
    "${PYTHON:-python3}" -m pytest -q -m gpu -p no:cacheprovider "${files[@]}" || tests_failed=1
else
    echo "== gpu-marked tests: not run (no cuda among --devices)"
fi
echo "== batch stages per device"
"${PYTHON:-python3}" "$here/gpu_check.py" "${args[@]}"
if [ "$tests_failed" != 0 ]; then echo "gpu-marked tests FAILED (above)"; exit 1; fi
