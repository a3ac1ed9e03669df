"""The gRPC edge: grpclib services on the bridge's asyncio thread, translating to Router calls.

``server`` (listening, the token check, the codec), ``connections`` and ``calls`` (what one
connection and its calls may hold: connections, streams, idle time, frames that do no work,
message size), ``publish``, ``subscribe`` and ``admin`` (one module per service), ``convert`` (protobuf <-> the router's model), ``status`` (RouterError ->
gRPC status), ``metadata`` (token and peer of a call). Handlers cross into Trio once per call or
batch (ADR 0007).
"""
