#!/usr/bin/env bash
# Makes a bare device machine ready and runs the prepared GPU check (device_check.sh), so
# a session with a GPU lent does it all in one call (benchmarks/README.md, "On a GPU"):
#   1. installs the wheels carried in .whl/ (lpips: not on the device) into a target
#      folder without network and puts that folder on PYTHONPATH;
#   2. installs this checkout with `pip install --no-deps --no-build-isolation -e .`
#      (no network: the build uses the setuptools and wheel already there);
#   3. imports nca, lpips and nca_denoise and prints the Python, torch and CUDA versions;
#   4. runs benchmarks/device_check.sh, its results into $OUT/device_check_<device>.md
#      when $OUT is set (the device tool's folder whose files come back), else into
#      device_check.sh's default path.
# With $OUT set, the whole output also goes to $OUT/device_run.log and each check part's
# full output to $OUT/device_check_parts.log.
#
# Time: every step has its own limit and the whole run a budget (--budget; the check's
# parts are cut short, or skipped, when it runs out). On the GPU the limits are 10 + 30 +
# 30 + 5 s here and 405 s in device_check.sh: 480 s, the default budget (8 minutes).
#
# Usage (from anywhere; it works in the repository root):
#   bash benchmarks/device_run.sh [--cpu] [--prepare-only] [--budget SECONDS] [--wheels DIR]
# --cpu: the same steps on a CPU machine (the wheels into a temporary target, the
#        editable install into the current python3, then `device_check.sh --cpu`): a
#        rehearsal of the device call. Default budget 900 s.
# --prepare-only: steps 1-3 only (install and import check), no device_check.sh.
# --wheels DIR: the wheel folder (default .whl, the one the device call carries).
set -uo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: bash benchmarks/device_run.sh [--cpu] [--prepare-only] [--budget SECONDS] [--wheels DIR]" >&2
    exit 2
}
device=cuda
budget=
check=yes
whl=.whl
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) device=cpu ;;
        --prepare-only) check=no ;;
        --budget | --wheels)
            [ $# -ge 2 ] || usage
            if [ "$1" = --budget ]; then budget=$2; else whl=${2%/}; fi
            shift
            ;;
        *) usage ;;
    esac
    shift
done
case "$budget" in
    '') budget=$([ "$device" = cuda ] && echo 480 || echo 900) ;;
    *[!0-9]*)
        echo "device_run: --budget takes whole seconds, not '$budget'" >&2
        exit 2
        ;;
esac
deadline=$(($(date +%s) + budget))

fail() {
    echo "device_run: $*" >&2
    exit 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    exec > >(tee "$OUT/device_run.log") 2>&1
    tee_pid=$!
    # let tee write the last lines before the device tool collects $OUT
    trap 'exec >&- 2>&-; wait "$tee_pid"; rm -rf "$tmp"' EXIT
fi
export PYTHONUNBUFFERED=1

# step NAME LIMIT_SECONDS CMD...: run CMD for at most LIMIT (less if the budget is short)
step() {
    local name=$1 limit=$2
    shift 2
    local left=$((deadline - $(date +%s)))
    if [ "$left" -lt "$limit" ]; then limit=$left; fi
    if [ "$limit" -le 0 ]; then
        echo "[$name] not run: the budget of $budget s is spent"
        return 124
    fi
    local started=$SECONDS
    timeout -k 5 "$limit" "$@"
    local rc=$?
    echo "[$name] exit $rc after $((SECONDS - started)) s (limit $limit s)"
    return "$rc"
}

# ---- 1. wheels (checked before anything runs, so a missing carry costs seconds)
[ -d "$whl" ] || fail "no $whl/ folder: download the lpips wheel into it (benchmarks/README.md, 'On a GPU') and name $whl in carry"
shopt -s nullglob
wheels=("$whl"/*.whl)
lpips_wheels=("$whl"/lpips-*.whl)
shopt -u nullglob
[ "${#lpips_wheels[@]}" -gt 0 ] || fail "no lpips wheel among the ${#wheels[@]} wheels in $whl/: download it as benchmarks/README.md says ('On a GPU')"
twice=$(printf '%s\n' "${wheels[@]##*/}" | cut -d- -f1 | tr 'A-Z.-' 'a-z__' | sort | uniq -d | paste -sd ' ')
[ -z "$twice" ] || fail "two versions of $twice in $whl/: keep one of each (they stop pip's install)"

echo "# device_run ($device, budget $budget s): $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) CPUs"
site=/tmp/site
[ "$device" = cuda ] || site="$tmp/site"
step wheels 10 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$site" "${wheels[@]}" ||
    fail "installing ${wheels[*]} into $site failed (pip's message above)"
export PYTHONPATH="$site"

# device_check.sh calls `python`: make it this python3 whatever else is on PATH
mkdir "$tmp/bin"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$(command -v python3)" > "$tmp/bin/python"
chmod +x "$tmp/bin/python"
export PATH="$tmp/bin:$PATH"

# ---- 2. this checkout, editable (a copy into the target folder if that fails)
if ! step install 30 python3 -m pip install -q --no-index --no-deps --no-build-isolation -e .; then
    echo "device_run: the editable install failed; installing a copy into $site instead"
    step install-copy 30 python3 -m pip install -q --no-index --no-deps --no-build-isolation \
        --no-compile --upgrade --target "$site" . ||
        fail "pip could not install this checkout (its message above)"
fi

# ---- 3. imports and versions
step imports 30 python3 -c "
import sys
from importlib.metadata import version
from pathlib import Path

import lpips, nca, nca_denoise, setuptools, torch

print('python', sys.version.split()[0], sys.executable, '| setuptools', setuptools.__version__)
print('torch', torch.__version__, '| CUDA', torch.version.cuda, '| cuDNN',
      torch.backends.cudnn.version(), '| GPUs', torch.cuda.device_count(),
      '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')
print('lpips', version('lpips'), lpips.__file__)
print('nca', nca.__version__, nca.__file__, '| tasks', ' '.join(nca.list_tasks()))
print('nca_denoise', nca_denoise.__file__)
homes = [Path.cwd().resolve(), Path('$site').resolve()]  # editable, or the copy
for module in (nca, nca_denoise):  # (python -c finds nca in the working directory anyway)
    if not any(Path(module.__file__).resolve().is_relative_to(home) for home in homes):
        sys.exit(f'{module.__name__} imports from {module.__file__}, not from this checkout')
if not Path(lpips.__file__).resolve().is_relative_to(Path('$site').resolve()):
    sys.exit(f'lpips imports from {lpips.__file__}, not from the wheel in $site')
if 'denoise' not in nca.list_tasks():
    sys.exit('the denoise task is not registered: the install wrote no entry points')
if '$device' == 'cuda' and not torch.cuda.is_available():
    sys.exit('torch sees no CUDA device')
" || fail "the import check failed (above): nothing was measured"
if [ "$device" = cuda ]; then
    timeout 5 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm \
        --format=csv,noheader || true
fi

if [ "$check" = no ]; then
    echo "device_run: ready (--prepare-only); $SECONDS s of the $budget s budget used"
    exit 0
fi

# ---- 4. the check (its parts are cut to what is left of the budget)
results="benchmarks/results/device_check_$device.md"
if [ -n "${OUT:-}" ]; then
    results="$OUT/device_check_$device.md"
    export DEVICE_CHECK_PARTS_LOG="$OUT/device_check_parts.log"
fi
args=("$results")
[ "$device" = cuda ] || args=(--cpu "$results")
DEVICE_CHECK_DEADLINE=$deadline bash benchmarks/device_check.sh "${args[@]}"
status=$?
echo "device_run: the parts of $results:"
awk '/^```/ { quoted = !quoted; next } !quoted && /^(## |exit |not run)/ { print "    " $0 }' "$results"
echo "device_run: device_check exit $status; $SECONDS s of the $budget s budget used"
exit "$status"
