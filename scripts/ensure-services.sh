#!/usr/bin/env bash
# Under CI=true, make sure the PostgreSQL and RabbitMQ servers the tests use are running.
# Elsewhere it only says what it finds; tests that need a missing service skip with a reason.
set -uo pipefail
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done; return 1; }

if port_open 5432; then :; elif [ "${CI:-}" = "true" ]; then
  echo "ensure-services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  wait_port 5432 || { echo "ensure-services: PostgreSQL did not come up" >&2; exit 1; }
else
  echo "ensure-services: PostgreSQL not running on 127.0.0.1:5432 (its tests will skip)"
fi

if port_open 5672; then :; elif [ "${CI:-}" = "true" ]; then
  echo "ensure-services: starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_port 5672 || { echo "ensure-services: RabbitMQ did not come up" >&2; exit 1; }
else
  echo "ensure-services: RabbitMQ not running on 127.0.0.1:5672 (its tests will skip)"
fi
# The monitoring page is tested in Debian's headless Chromium (tests/browser).
if [ -x /usr/bin/chromium ]; then :; elif [ "${CI:-}" = "true" ]; then
  echo "ensure-services: installing Debian's chromium for the browser tests"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
    || { echo "ensure-services: could not install chromium" >&2; exit 1; }
else
  echo "ensure-services: /usr/bin/chromium missing (browser tests will skip; apt-get install chromium)"
fi
exit 0
