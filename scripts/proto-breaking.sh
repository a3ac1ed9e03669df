#!/usr/bin/env bash
# The wire contract against the released one (docs/compatibility.md): `buf breaking` with its FILE
# rules, the protos of PROTOS_DIR (default protos/) against protos/released/router-v1.binpb.
#   scripts/proto-breaking.sh [PROTOS_DIR]   check (exit 100 names each breaking change)
#   scripts/proto-breaking.sh --release      on a release: check, then write the baseline from protos/
# Buf comes from the npm registry (@bufbuild/buf, pinned) into .cache/buf, once; after that a
# check takes well under a second. Under CI=true a failed install fails the check; elsewhere a
# machine without npm skips it, saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
BUF_VERSION=1.75.0
BASELINE=protos/released/router-v1.binpb
prefix=.cache/buf
buf="$prefix/node_modules/.bin/buf"
mkdir -p "$prefix"
exec 9>"$prefix.lock"
flock 9  # one install at a time: `just lint` and the test may both come to install it

if [ ! -x "$buf" ] || [ "$("$buf" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
      echo "proto-breaking: npm is not installed; CI must run the breaking-change check" >&2
      exit 1
    fi
    echo "proto-breaking: SKIPPED, npm is not installed (buf $BUF_VERSION comes from it)" >&2
    exit 0
  fi
  echo "proto-breaking: installing @bufbuild/buf@$BUF_VERSION into $prefix" >&2
  if ! npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error \
    "@bufbuild/buf@$BUF_VERSION" >&2; then
    echo "proto-breaking: npm could not install @bufbuild/buf@$BUF_VERSION" >&2
    exit 1
  fi
  found="$("$buf" --version)"
  if [ "$found" != "$BUF_VERSION" ]; then
    echo "proto-breaking: installed buf says $found, not $BUF_VERSION" >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--release" ]; then
  # A release passes the check first: the baseline moves forward, never past a break. It holds
  # no comments (source info), only what the wire and the generated code depend on.
  "$buf" breaking protos --against "$BASELINE"
  "$buf" build protos --exclude-source-info -o "$BASELINE"
  echo "proto-breaking: wrote $BASELINE from protos/" >&2
  exit 0
fi
flock -u 9
"$buf" breaking "${1:-protos}" --against "$BASELINE"
