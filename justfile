# Recipes for everything a person runs. `./dev <recipe>` bootstraps .venv first.
set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/.venv/bin:" + env_var("PATH")

default:
    @just --list

# Start the router on the embedded SQLite store and show it working end to end.
demo:
    python -m router.node.demo

# Serve on SQLite (./router.db) with gRPC on 127.0.0.1:50051.
run *ARGS:
    router serve {{ARGS}}

# The whole test suite. Under CI=true PostgreSQL and RabbitMQ are started if down and must be used.
# The 2,000-stream load test runs its load for 20 s here, the retention soak 36 s a store and the
# crash loop 10 SIGKILLs a store; `just faults` runs them for 60 s, 120 s and 20 SIGKILLs and
# writes the figures to docs/reliability.md.
# Three workers on this project's two cores (pytest-xdist; TEST_WORKERS=0 for one process): most
# tests wait on routers they started, so two workers kept the cores under one busy in all. A
# worker is handed one test at a time as it frees up, and the longest modules are collected
# first (tests/helpers/lanes.py), so the workers end together. The 20 slowest tests
# are listed at the end, so a log shows what dominates.
test *ARGS:
    bash scripts/ensure-services.sh
    FAULTS_LOAD_S="${FAULTS_LOAD_S:-20}" FAULTS_SOAK_S="${FAULTS_SOAK_S:-36}" \
      FAULTS_CRASH_ROUNDS="${FAULTS_CRASH_ROUNDS:-10}" python -m pytest -n "${TEST_WORKERS:-3}" --maxschedchunk 1 --durations=20 {{ARGS}}

# Everything but the tests marked slow (soaks, failovers, crash loops, load), browser and
# postgres (tests/helpers/lanes.py gives the markers): the lane for a change to one part.
test-fast *ARGS:
    python -m pytest -n "${TEST_WORKERS:-3}" --maxschedchunk 1 -m "not slow and not browser and not postgres" {{ARGS}}

# Lint, format check, types, the floors of router/ (README "Layout"; contracts in pyproject.toml),
# the permission table, and the wire contract against the released one.
lint:
    ruff check .
    ruff format --check .
    mypy router actors storage
    lint-imports
    python -m scripts.permission_table --check
    just proto-breaking

# The protos against the released contract, protos/released/router-v1.binpb, by `buf breaking`
# with the FILE rules (docs/compatibility.md); buf is installed from npm into .cache/buf once.
proto-breaking:
    bash scripts/proto-breaking.sh

# On a release: write protos/released/router-v1.binpb, the baseline `proto-breaking` checks against.
proto-release:
    bash scripts/proto-breaking.sh --release

# Write docs/security.md's permission table from router/control/policy.py (`just lint` checks it).
permissions:
    python -m scripts.permission_table

fmt:
    ruff format .
    ruff check --fix .

# Regenerate the gRPC code from protos/ (the result is committed).
proto:
    python -m grpc_tools.protoc -Iprotos --python_out=router/_proto --grpclib_python_out=router/_proto --pyi_out=router/_proto protos/router/v1/router.proto
    python scripts/fix_proto_imports.py

# Benchmarks of the core (SQLite and PostgreSQL); prints a table. Bounded in time.
bench *ARGS:
    bash scripts/ensure-services.sh
    python -m benchmarks.core {{ARGS}}
    python -m benchmarks.retention --rounds 1 --events 100000

# Publishing while retention removes events, against keeping everything (both stores, about
# 3 minutes). The line `just bench` prints at its end, with more rounds.
bench-retention *ARGS:
    bash scripts/ensure-services.sh
    python -m benchmarks.retention {{ARGS}}

# One store filled to 10,000,000 events: the rate per million, bytes per event, the restart after
# SIGKILL (SQLite and PostgreSQL; about 10 minutes). Not run by CI.
bench-growth *ARGS:
    bash scripts/ensure-services.sh
    python -m benchmarks.growth {{ARGS}}

# What checking grants costs: publish and end to end as a user with 50 grants against the admin
# token, in one run on SQLite (about 2 minutes). Not run by CI.
bench-grants *ARGS:
    python -m benchmarks.grants {{ARGS}}

# Publishing under an event type's JSON Schema (enforce) against no schema, same run. Bounded.
bench-contracts *ARGS:
    python -m benchmarks.contracts {{ARGS}}

# Publishing with OpenTelemetry tracing on (1% sampled, OTLP to loopback) against off. Bounded.
bench-tracing *ARGS:
    python -m benchmarks.tracing {{ARGS}}

# RabbitMQ ingest next to RabbitMQ's own publish -> consume, and re-emit. Bounded.
bench-amqp *ARGS:
    bash scripts/ensure-services.sh
    python -m benchmarks.amqp {{ARGS}}

# The router next to RabbitMQ (queues and Streams), NATS JetStream and Redis Streams on this
# machine. Turns RabbitMQ's stream plugin on for the run (loopback only). Bounded.
bench-peers *ARGS:
    bash scripts/ensure-services.sh
    python -m benchmarks.peers {{ARGS}}

# The fault suite (tests/faults: crashes, store outages, slow consumers, load, hostile input,
# shutdown) with its figures written to docs/reliability.md. Bounded: about 5 minutes.
faults *ARGS:
    bash scripts/ensure-services.sh
    rm -f .faults.jsonl
    FAULTS_REPORT=.faults.jsonl python -m pytest -q tests/faults {{ARGS}}
    python -m scripts.reliability_report .faults.jsonl docs/reliability.md

# Regenerate the monitoring page's screenshots in docs/screenshots (headless Chromium).
screenshots:
    ROUTER_SCREENSHOTS=docs/screenshots python -m pytest -q tests/browser
