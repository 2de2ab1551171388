#!/usr/bin/env bash
# The other CPythons: build uring_rs and run a fast subset of the tests on each CPython
# present besides the one .ci/run uses (which runs the whole suite), one at a time.
#
#   bash .ci/pythons.sh                       # 3.9 3.10 3.12 3.13, whichever are present
#   UR_PYTHONS="3.12" bash .ci/pythons.sh     # just these
#
# A Python is found as pythonX.Y on PATH or in pyenv's versions (~/.pyenv/versions/X.Y.*);
# an absent one is skipped with a message. Each gets a fresh venv in .ci-pythons/pyX.Y
# (UR_PYTHONS_DIR) and its own cargo target directory there, so runs do not rebuild the
# other versions' artifacts. Exits non-zero if any present Python fails.
set -euo pipefail
cd "$(dirname "$0")/.."
versions="${UR_PYTHONS:-3.9 3.10 3.12 3.13}"
root="${UR_PYTHONS_DIR:-$PWD/.ci-pythons}"
# Every test file but the slow, timing-heavy ones (the fuzzers, faults, leaks, threads, the
# asyncio conformance suite and AnyIO's), which stay with the full run on .ci/run's Python.
# UR_FAST_TESTS replaces the whole selection (paths and pytest options).
tests="${UR_FAST_TESTS:-tests --ignore=tests/test_fuzz_args.py --ignore=tests/test_fuzz_state.py
  --ignore=tests/test_faults.py --ignore=tests/test_leaks.py --ignore=tests/test_threads.py
  --ignore=tests/test_conformance.py --ignore=tests/test_anyio_suite.py}"

find_python() {
    # The first candidate that runs and is that version (a pyenv shim may name a version
    # pyenv does not have selected).
    local v=$1 p
    for p in "$(command -v "python$v" 2>/dev/null)" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python; do
        if [ -x "$p" ] && [ "$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' \
            2>/dev/null)" = "$v" ]; then
            echo "$p"
            return
        fi
    done
    return 1
}

start=$(date +%s)
failed=()
ran=()
for v in $versions; do
    if ! py=$(find_python "$v"); then
        echo "pythons: Python $v not found (no python$v on PATH, none in pyenv): skipped"
        continue
    fi
    t0=$(date +%s)
    venv="$root/py$v"
    echo "pythons: Python $v ($py): building into $venv"
    rm -rf "$venv"
    if ! "$py" -m venv "$venv"; then
        echo "pythons: Python $v: no venv"
        failed+=("$v")
        continue
    fi
    if ! CARGO_TARGET_DIR="$root/target-py$v" "$venv/bin/python" -m pip install -q '.[test]'; then
        echo "pythons: Python $v: the build failed"
        failed+=("$v")
        continue
    fi
    t1=$(date +%s)
    # shellcheck disable=SC2086 # $tests is a list of words
    if "$venv/bin/python" -m pytest -q -p no:cacheprovider $tests; then
        ran+=("$v")
    else
        failed+=("$v")
    fi
    echo "pythons: Python $v: build $((t1 - t0))s, tests $(($(date +%s) - t1))s"
done
echo "pythons: ${#ran[@]} passed (${ran[*]:-none}), ${#failed[@]} failed (${failed[*]:-none}) in $(($(date +%s) - start))s"
[ ${#failed[@]} -eq 0 ]
