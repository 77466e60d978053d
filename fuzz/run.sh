#!/usr/bin/env bash
# Builds Leitstand's fuzz targets and runs each for a bounded time, one after another, then
# prints a summary (executions, coverage, corpus, result). See docs/FUZZING.md.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     default: 600 seconds each, every target
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Environment: FUZZ_TOOLCHAIN (default nightly), FUZZ_TARGET_DIR (default target/fuzz),
# FUZZ_RSS_LIMIT_MB (default 2048), FUZZ_TIMEOUT (seconds per input, default 10),
# FUZZ_SANITIZER (default address), FUZZ_CODEGEN_UNITS (default 16: a much faster build on
# a small machine, a slightly slower fuzzer), FUZZ_NICE (default 19).
# Exit status: 0 when no target failed, 1 otherwise; a failing input is kept under
# fuzz/artifacts/<target>/ and the log under $FUZZ_TARGET_DIR/logs/<target>.log.
set -euo pipefail

seconds=${1:-600}
shift || true
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz=$root/fuzz
toolchain=${FUZZ_TOOLCHAIN:-nightly}
target_dir=${FUZZ_TARGET_DIR:-$root/target/fuzz}
rss_limit_mb=${FUZZ_RSS_LIMIT_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
sanitizer=${FUZZ_SANITIZER:-address}
codegen_units=${FUZZ_CODEGEN_UNITS:-16}
nice=${FUZZ_NICE:-19}
if [ $# -gt 0 ]; then targets=("$@"); else targets=(event bundle fixture boundary); fi

# The longest input per target: an event up to a quarter of the 64 KiB the contract
# promises (larger ones only repeat what the fuzzer already has), a manifest, a fixture
# (whose difference is quadratic in its lines).
max_len() {
    case $1 in
        event) echo 16384 ;;
        bundle) echo 8192 ;;
        fixture) echo 4096 ;;
        boundary) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi
if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
    echo "needs cargo-fuzz on the $toolchain toolchain: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

build=(--fuzz-dir "$fuzz" --target-dir "$target_dir" --sanitizer "$sanitizer"
    --codegen-units "$codegen_units")
mkdir -p "$target_dir/logs"
echo "building ${targets[*]} ($toolchain, sanitizer $sanitizer)"
for t in "${targets[@]}"; do
    nice -n "$nice" cargo "+$toolchain" fuzz build "${build[@]}" "$t"
done

summary=()
failed=0
for t in "${targets[@]}"; do
    log=$target_dir/logs/$t.log
    corpus=$fuzz/corpus/$t
    scratch=$target_dir/tmp/$t
    mkdir -p "$corpus" "$scratch"
    dict=()
    [ -f "$fuzz/dict/$t.dict" ] && dict=(-dict="$fuzz/dict/$t.dict")
    echo "fuzzing $t for ${seconds}s (log: $log)"
    started=$(date +%s)
    status=0
    # New inputs go to corpus/<target> (not committed); seeds/<target> is only read.
    TMPDIR=$scratch nice -n "$nice" cargo "+$toolchain" fuzz run "${build[@]}" "$t" \
        "$corpus" "$fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss_limit_mb" -max_len="$(max_len "$t")" \
        -timeout="$timeout" -print_final_stats=1 "${dict[@]}" \
        >"$log" 2>&1 || status=$?
    rm -rf "$scratch"
    took=$(($(date +%s) - started))
    # libFuzzer's last status line: "#<runs> <event> cov: <edges> ft: <features> corp: <n>/<size> ...".
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
    if [ "$status" -eq 0 ]; then
        result=ok
    else
        result="FAILED (exit $status, see $log and fuzz/artifacts/$t/)"
        failed=1
    fi
    summary+=("$(printf '%-8s %6ss  %12s execs  cov %6s  ft %6s  corpus %-14s %s' \
        "$t" "$took" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
done

echo
echo "target   time            executions  coverage    features   corpus (n/bytes) result"
printf '%s\n' "${summary[@]}"
exit "$failed"
