"""The router's errors: one small hierarchy, mapped to gRPC and HTTP codes at the edges."""

from __future__ import annotations


class RouterError(Exception):
    """Base of every error the router reports to a caller. ``str(error)`` is the message shown."""

    grpc_status = "INTERNAL"
    http_status = 500


class InvalidArgument(RouterError):
    """A request field is malformed; the message names the field."""

    grpc_status = "INVALID_ARGUMENT"
    http_status = 400


class OutOfRange(RouterError):
    """A position (offset, time) lies outside what exists."""

    grpc_status = "OUT_OF_RANGE"
    http_status = 400


class NotFound(RouterError):
    grpc_status = "NOT_FOUND"
    http_status = 404


class AlreadyExists(RouterError):
    grpc_status = "ALREADY_EXISTS"
    http_status = 409


class FailedPrecondition(RouterError):
    grpc_status = "FAILED_PRECONDITION"
    http_status = 409


class Unavailable(RouterError):
    """The store cannot be reached or the router is shutting down; retrying later is safe."""

    grpc_status = "UNAVAILABLE"
    http_status = 503


class DeadlineExceeded(RouterError):
    grpc_status = "DEADLINE_EXCEEDED"
    http_status = 504


class PermissionDenied(RouterError):
    grpc_status = "PERMISSION_DENIED"
    http_status = 403


class Unauthenticated(RouterError):
    grpc_status = "UNAUTHENTICATED"
    http_status = 401


class ResourceExhausted(RouterError):
    """A limit is reached (consumers on a subscriber, a quota); the message names it."""

    grpc_status = "RESOURCE_EXHAUSTED"
    http_status = 429
