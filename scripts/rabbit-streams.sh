#!/usr/bin/env bash
# Turn RabbitMQ's stream plugin on (listening on 127.0.0.1:5552 only) or off again, on the running
# local node, for the peer benchmark. `on` prints "was-on" when it already was, so the caller
# leaves it so.
set -euo pipefail
case "${1:-}" in
on)
    if rabbitmq-plugins list -e 2>/dev/null | grep -q 'rabbitmq_stream '; then
        echo was-on
        exit 0
    fi
    rabbitmq-plugins enable --online rabbitmq_stream >/dev/null
    # The plugin starts on every interface; restart it bound to loopback only.
    rabbitmqctl eval 'ok = application:stop(rabbitmq_stream),
        application:set_env(rabbitmq_stream, tcp_listeners, [{"127.0.0.1", 5552}]),
        application:set_env(rabbitmq_stream, advertised_host, <<"127.0.0.1">>),
        application:start(rabbitmq_stream).' >/dev/null
    echo turned-on
    ;;
off)
    rabbitmq-plugins disable --online rabbitmq_stream >/dev/null
    ;;
*)
    echo "usage: $0 on|off" >&2
    exit 2
    ;;
esac
