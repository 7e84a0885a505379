#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this file).
# On a fresh Debian machine it first installs what the tests need; nothing
# may rely on anything installed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
# Installs the Debian packages whose command is missing: "command:package" pairs.
ensure_commands() {
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing ${missing[*]}"
  if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

step "dependencies"
ensure_commands node:nodejs npm:npm chromium:chromium chromedriver:chromium-driver
if [ ! -d interop/node/node_modules ] || [ interop/node/package-lock.json -nt interop/node/node_modules ]; then
  npm ci --prefix interop/node --no-audit --no-fund
  touch interop/node/node_modules
fi
if [ ! -d sdk/js/node_modules ] || [ sdk/js/package-lock.json -nt sdk/js/node_modules ]; then
  npm ci --prefix sdk/js --no-audit --no-fund
  touch sdk/js/node_modules
fi
if ! python3 -c 'import cryptography' >/dev/null 2>&1; then
  python3 -m pip install --quiet cryptography
fi
python3 -c 'import openapi_spec_validator' >/dev/null 2>&1 || python3 -m pip install --quiet openapi-spec-validator
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi

step "PostgreSQL for the tests"
# One real cluster for the whole run; each test creates its own database.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pg_dir=$(mktemp -d /tmp/ssi-test-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg_as=()
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$pg_dir"; pg_as=(runuser -u postgres --); fi
"${pg_as[@]}" "$pg_bin/initdb" -A trust -U postgres --no-sync -D "$pg_dir/data" >/dev/null
"${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >/dev/null
stop_pg() { "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap stop_pg EXIT
export SSI_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on port $pg_port"

step "format"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "TypeScript SDK (sdk/js): build, type-check of the seed samples, node --test"
# Built before the Rust tests: the end-to-end tests of crates/ssi run the built package.
npm run --prefix sdk/js build
npm run --prefix sdk/js check-examples
npm run --prefix sdk/js check-types
npm run --prefix sdk/js build-examples
sdk_log=$(mktemp)
npm test --prefix sdk/js 2>&1 | tee "$sdk_log"
sdk_passed=$(grep -Eo '^# pass [0-9]+' "$sdk_log" | tail -n 1 | grep -Eo '[0-9]+')
rm -f "$sdk_log"

step "tests"
cargo test --workspace --doc --locked
nextest_log=$(mktemp)
cargo nextest run --workspace --locked --no-fail-fast 2>&1 | tee "$nextest_log"
passed=$(grep -Eo '[0-9]+ tests? run: [0-9]+ passed' "$nextest_log" | tail -n 1 | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')
rm -f "$nextest_log"

step "fuzz (short run)"
bash scripts/fuzz.sh "${SSI_FUZZ_SECONDS:-10}"

step "all green"
echo "tests: $(( ${passed:-0} + ${sdk_passed:-0} )) passed, 0 failed"
