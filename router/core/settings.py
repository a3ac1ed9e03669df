"""One Settings object, built from flags and the environment, passed down explicitly."""

from __future__ import annotations

import os
import socket
import ssl

import attrs

from router.core.urls import db_url

DEFAULT_ASK_TIMEOUT = 30.0  # seconds an actor's answer is waited for, unless a call says

DEFAULT_GRPC = "127.0.0.1:50051"
DEFAULT_HTTP = "127.0.0.1:8080"


def default_db_url() -> str:
    return os.environ.get("ROUTER_DB", "sqlite:///" + os.path.join(os.getcwd(), "router.db"))


@attrs.frozen
class AmqpSource:
    """Where to ingest from (``router serve --amqp-*``)."""

    url: str
    exchange: str
    bindings: tuple[str, ...] = ("#",)
    queue: str = ""  # default: router.<exchange>
    prefetch: int = 1000
    queue_type: str = "classic"  # or quorum (replicated, for a RabbitMQ cluster)

    @property
    def queue_name(self) -> str:
        return self.queue or f"router.{self.exchange}"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.exchange}.dead"


ROLES = ("all", "ingest", "route")


@attrs.frozen
class Settings:
    """How this router runs: addresses, database, limits, timeouts (from flags and environment)."""

    db_url: str = attrs.field(factory=default_db_url, converter=db_url)  # scheme in lower case
    grpc_address: str = DEFAULT_GRPC
    http_address: str | None = DEFAULT_HTTP  # None: no HTTP server
    max_payload_bytes: int = 1024 * 1024
    max_batch_events: int = 10_000
    # Publishes waiting while a commit runs all go into the next commit, up to this many events.
    commit_max_events: int = 5_000
    default_limit_size: int = 10_000
    max_limit_size: int = 1_000_000
    max_queues_per_exchange: int = 64  # distinct queue options (limit_size) on one exchange
    metrics_subscribers: int = 1_000  # /metrics: a series per subscriber up to this many
    replay_chunk: int = 2_000
    # A replay chunk's stored bytes at most (at least one event): what one read loads for a
    # subscriber, and the most of it held in each place between storage and the wire.
    replay_chunk_bytes: int = 1024 * 1024
    # What a REST pull returns at most when it names no max_bytes (at least one event).
    pull_max_bytes: int = 4 * 1024 * 1024
    # A consumer that sends neither ack nor heartbeat for this long is put to sleep.
    consumer_timeout_s: float = 30.0
    cursor_flush_interval_s: float = 0.2
    idempotency_window_s: float = 24 * 3600.0
    shutdown_grace_s: float = 10.0
    read_connections: int = 3
    # The gRPC port's bounds on what one client may hold (docs/security.md, "Under attack").
    # A request message over grpc_max_message_bytes is refused (RESOURCE_EXHAUSTED) from its
    # 5-byte prefix, before its body is read: room for a batch of 16 events at the 1 MiB
    # payload maximum, or thousands of small ones.
    grpc_max_message_bytes: int = 16 * 1024 * 1024
    # Connections open at once, in all (None: half the process's descriptor limit) and from
    # one address; more are closed as soon as they are accepted.
    grpc_max_connections: int | None = None
    grpc_max_connections_per_source: int = 256
    # A connection is closed when it sends no HTTP/2 preface (or no TLS handshake) within
    # grpc_handshake_timeout_s; when it has no call running for grpc_idle_timeout_s (with
    # GOAWAY: a client reconnects at its next call); when it reads nothing it is sent for as long.
    grpc_handshake_timeout_s: float = 10.0
    grpc_idle_timeout_s: float = 300.0
    # A Subscribe stream that sends no start message for this long is ended INVALID_ARGUMENT.
    grpc_start_timeout_s: float = 10.0
    # Calls running at once on one connection, counting those reset by the client whose
    # handlers have not ended yet (HTTP/2 MAX_CONCURRENT_STREAMS; more are refused).
    grpc_max_streams_per_connection: int = 100
    # Frames that ask for no call but make the router work or answer (RST_STREAM, PING,
    # SETTINGS, PRIORITY, empty DATA, refused streams): this burst, then this many a second;
    # past that the connection is closed with GOAWAY ENHANCE_YOUR_CALM.
    grpc_no_work_frames_burst: int = 1_000
    grpc_no_work_frames_per_s: float = 100.0
    # Auth is on unless the router runs with --dev. The first start creates user ``admin`` with
    # this token (ROUTER_ADMIN_TOKEN), or a random one written to admin_token_file.
    # TLS for both gRPC and HTTP when both files are given (PEM).
    tls_cert: str | None = None
    tls_key: str | None = None
    # The rate sampler and /metrics; the actors count either way (an integer per batch).
    metrics: bool = True
    auth: bool = True
    admin_token: str | None = attrs.field(factory=lambda: os.environ.get("ROUTER_ADMIN_TOKEN"))
    # Where a token made by the first start is written (router.node.admin_token; None: the default).
    admin_token_file: str | None = attrs.field(
        factory=lambda: os.environ.get("ROUTER_ADMIN_TOKEN_FILE")
    )
    # RabbitMQ ingest (router serve --amqp-url ... --amqp-exchange ...), off when None.
    amqp: AmqpSource | None = None
    # The RabbitMQ exchanges users other than admins may re-emit into (router.amqp.reemit).
    reemit_exchanges: tuple[str, ...] = ()
    # The deployment form: all (default), ingest, or route (following ``upstream``).
    role: str = "all"
    upstream: str | None = None
    upstream_token: str | None = attrs.field(
        factory=lambda: os.environ.get("ROUTER_UPSTREAM_TOKEN")
    )
    upstream_tls_ca: str | None = None
    # A route node's name: its tables live in PostgreSQL schema ``route_<node>``.
    node: str = "route"
    # Retention (docs/deploy.md): events older than retain_for_s, or the oldest past
    # retain_bytes, are removed from the log in the background; None keeps everything. With
    # retain_until_acked, removal waits for durable subscribers that have not acked, but never
    # keeps an event longer than retain_max_for_s.
    retain_for_s: float | None = None
    retain_bytes: int | None = None
    retain_until_acked: bool = False
    retain_max_for_s: float | None = None
    trim_step_events: int = 5_000  # removed in one transaction at most
    trim_every_s: float = 1.0  # how often the limits are checked
    # Leadership (PostgreSQL, roles all and ingest; storage.leadership): routers sharing one
    # database elect one leader. The leader renews its lease every lease_s / 4; a standby looks
    # every standby_poll_s and takes over when the leader's connection ends or its lease does.
    lease_s: float = 5.0
    standby_poll_s: float = 0.5
    # What this router is called among the others, and where clients are sent to reach it
    # (default: its own --grpc/--http addresses, with this machine's name for 0.0.0.0).
    name: str | None = None
    advertise_grpc: str | None = None
    advertise_http: str | None = None

    @property
    def retains_all(self) -> bool:
        return self.retain_for_s is None and self.retain_bytes is None

    @property
    def idempotency_keys_s(self) -> float:
        """The idempotency window as it holds: never longer than events are kept."""
        if self.retain_for_s is None:
            return self.idempotency_window_s
        return min(self.idempotency_window_s, self.retain_for_s)

    @property
    def elects(self) -> bool:
        """Whether this router takes part in leadership: a PostgreSQL store, role all or ingest."""
        return self.db_url.startswith(("postgresql://", "postgres://")) and self.role != "route"

    def grpc_advertised(self) -> str:
        return self.advertise_grpc or _reachable(self.grpc_address)

    def http_advertised(self) -> str:
        if self.advertise_http:
            return self.advertise_http
        return _reachable(self.http_address) if self.http_address else ""

    def leader_name(self) -> str:
        return self.name or f"{socket.gethostname()}:{self.grpc_host_port()[1]}"

    def server_ssl(self) -> ssl.SSLContext | None:
        """The servers' TLS context (HTTP/2 offered by ALPN for gRPC), or None without TLS."""
        if not (self.tls_cert and self.tls_key):
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tls_cert, self.tls_key)
        context.set_alpn_protocols(["h2", "http/1.1"])
        return context

    def http_host_port(self) -> tuple[str, int] | None:
        return split_host_port(self.http_address, "http") if self.http_address else None

    def grpc_host_port(self) -> tuple[str, int]:
        return split_host_port(self.grpc_address, "grpc")


def split_host_port(address: str, field: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{field}: expected HOST:PORT, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _reachable(address: str) -> str:
    """``address`` as another machine would use it: a wildcard host becomes this machine's name."""
    host, port = split_host_port(address, "address")
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"{host}:{port}"
