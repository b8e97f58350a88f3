#!/usr/bin/env bash
# One prepared GPU check: the CUDA tests, the paper's Table 8 setting (eager and
# compiled, checkpointing off and 16 segments), the fixed-point memory curve and a short
# denoising run. Everything goes to one results file. Each part has its own time limit,
# so one hang cannot eat the rest: on the GPU they sum to 405 s, which with
# device_run.sh's install steps (75 s) makes its 8-minute budget.
#
# Usage (from the repository root, the package installed; on a bare device machine run
# benchmarks/device_run.sh, which installs and then runs this):
#   bash benchmarks/device_check.sh [--cpu] [RESULTS_FILE]
# --cpu: a dry run of the same parts at toy sizes on the CPU (the CUDA tests skip);
#        the test suite runs it (slow marker).
# Environment (both optional; device_run.sh sets them):
#   DEVICE_CHECK_DEADLINE   epoch seconds: each part's limit is cut to the time left, and
#                           a part with under 5 s left is not run (and fails the check)
#   DEVICE_CHECK_PARTS_LOG  a file that gets each part's whole output (the results file
#                           keeps the last 60 lines)
set -uo pipefail
cd "$(dirname "$0")/.."

device=cuda
if [ "${1:-}" = "--cpu" ]; then
    device=cpu
    shift
fi
out="${1:-benchmarks/results/device_check_${device}.md}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0

section() { printf '\n## %s\n\n' "$1" >> "$out"; }
# run LIMIT_SECONDS CMD...: record the command, its output tail and exit status
run() {
    local limit=$1
    shift
    local started=$SECONDS
    printf '`%s`\n\n' "$*" >> "$out"
    if [ -n "${DEVICE_CHECK_DEADLINE:-}" ]; then
        local left=$((DEVICE_CHECK_DEADLINE - $(date +%s)))
        if [ "$left" -lt 5 ]; then
            printf 'not run: the time budget is spent\n' >> "$out"
            status=1
            return
        fi
        if [ "$left" -lt "$limit" ]; then limit=$left; fi
    fi
    printf '```\n' >> "$out"
    timeout -k 5 "$limit" "$@" > "$work/log" 2>&1
    local rc=$?
    tail -n 60 "$work/log" >> "$out"
    if [ -n "${DEVICE_CHECK_PARTS_LOG:-}" ]; then
        printf '\n===== %s (exit %s, limit %s s)\n' "$*" "$rc" "$limit" >> "$DEVICE_CHECK_PARTS_LOG"
        cat "$work/log" >> "$DEVICE_CHECK_PARTS_LOG"
    fi
    printf '```\n\nexit %s after %s s\n' "$rc" "$((SECONDS - started))" >> "$out"
    if [ "$rc" -ne 0 ]; then status=1; fi
}

{
    echo "# Device check ($device)"
    echo
    echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    timeout 15 python -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"
} > "$out"

if [ "$device" = cuda ]; then
    section "CUDA tests"
    # limits from the H200 run of 2026-12-04 (results/device_check_cuda.md): the tests took
    # 26 s; Table 8 prints each row as it ends, the most wanted first
    run 45 python -m pytest -m cuda -q -p no:cacheprovider tests/cuda tests/layers/test_precision.py
    section "Paper Table 8 setting: B = 32, RGB 32x32, T = 32 (eager and compiled)"
    run 170 python benchmarks/vitca_rollout.py --cuda-only --repeats 3 \
        --backends shifted shifted+compile conv
    section "Fixed-point memory against T"
    run 100 python benchmarks/gradient_modes.py --memory --device cuda --batch 32 \
        --steps-list 8 64 256
    section "Short denoising run (quick preset, 300 iterations, compiled step)"
    run 75 python -m nca train --rule vitca --task denoise --preset quick --iterations 300 \
        --compile --device cuda --run-dir "$work/denoise" --quiet
else
    section "CUDA tests (skipped without a GPU)"
    run 120 python -m pytest -m cuda -q -p no:cacheprovider tests/cuda
    section "Rollout benchmark worker (toy size)"
    run 300 python benchmarks/vitca_rollout.py --worker --backend shifted+sparse+compile \
        --batch 2 --size 8 --steps 4 --repeats 1 --device cpu
    section "Fixed-point memory against T (toy size)"
    run 200 python benchmarks/gradient_modes.py --memory --device cpu --batch 1 --size 8 \
        --steps-list 4
    section "Short denoising run (toy size)"
    run 120 python -m nca train --rule vitca --task denoise --preset quick --iterations 3 \
        --image-size 8 --eval-subset 4 --eval-steps 4 -o rule.embed_dim=16 -o rule.heads=2 \
        --device cpu --run-dir "$work/denoise" --quiet
fi
echo "results: $out (status $status)"
exit "$status"
