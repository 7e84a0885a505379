#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS_PER_TARGET seconds (default 20)
# on the stable toolchain, one after the other, and fails if any finds a crash.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#   FUZZ_TARGETS="jwk_parsers proto_messages" scripts/fuzz.sh 60   # a subset
#
# Stable only: `--sanitizer none` avoids `-Zsanitizer=address`, which is
# nightly-only; with it cargo-fuzz needs no RUSTC_BOOTSTRAP (checked with
# cargo-fuzz 0.13.2 on Rust 1.95), so none is set here. The targets are Rust
# without `unsafe`, so AddressSanitizer would add little. `--debug-assertions`
# turns overflow checks and debug_assert! on in the otherwise optimized build.
#
# Each target fuzzes a working corpus, fuzz/corpus/<target>/ (git-ignored,
# kept between runs), seeded with a copy of fuzz/seeds/<target>/ so the
# committed seeds stay clean. Crashes land in fuzz/artifacts/<target>/, the
# full libFuzzer output in fuzz/target/fuzz-logs/<target>.log.
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz not found; installing it (cargo install cargo-fuzz --locked)" >&2
  cargo install cargo-fuzz --locked
fi

flags=(--sanitizer none --debug-assertions)
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo fuzz list)
fi

# One build for all targets; `cargo fuzz run` below then finds them up to date.
echo "building ${#targets[@]} fuzz targets (release, ${flags[*]})" >&2
cargo fuzz build "${flags[@]}"

# libFuzzer's final stats, e.g. "stat::number_of_executed_units: 123456".
final_stat() { sed -n "s/^stat::$2: *//p" "$1" | tail -n 1; }

logs="fuzz/target/fuzz-logs"
mkdir -p "$logs"
summary=()
failed=0
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  if [[ -d "fuzz/seeds/$target" ]]; then
    cp -R fuzz/seeds/"$target"/. "$corpus"/
  fi
  log="$logs/$target.log"
  echo "fuzzing $target for ${seconds}s" >&2
  start=$SECONDS
  status=0
  cargo fuzz run "${flags[@]}" "$target" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  wall=$((SECONDS - start))

  execs="$(final_stat "$log" number_of_executed_units)"
  rate="$(final_stat "$log" average_exec_per_sec)"
  new="$(final_stat "$log" new_units_added)"
  rss="$(final_stat "$log" peak_rss_mb)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)"
  if [[ $status -eq 0 ]]; then
    line="$(printf '%-24s ok     execs=%s exec/s=%s time=%ss cov=%s new=%s rss=%sMB' \
      "$target" "${execs:-?}" "${rate:-?}" "$wall" "${cov:-?}" "${new:-?}" "${rss:-?}")"
  else
    failed=1
    artifact="$(grep -o 'fuzz/artifacts/[^ ]*' "$log" | tail -n 1 || true)"
    line="$(printf '%-24s FAILED exit=%s execs=%s time=%ss artifact=%s log=%s' \
      "$target" "$status" "${execs:-?}" "$wall" "${artifact:-none}" "$log")"
    echo "---- last lines of $log ----" >&2
    tail -n 40 "$log" >&2
  fi
  echo "$line"
  summary+=("$line")
done

echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
  echo "a fuzz target failed; reproduce with: cargo fuzz run ${flags[*]} <target> <artifact>" >&2
  exit 1
fi
