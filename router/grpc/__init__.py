"""The gRPC edge: grpclib services on the bridge's asyncio thread, translating to Router calls.

``server`` (listening, the token check, the codec), ``publish``, ``subscribe`` and ``admin`` (one
module per service), ``convert`` (protobuf <-> the router's model), ``status`` (RouterError ->
gRPC status), ``metadata`` (token and peer of a call). Handlers cross into Trio once per call or
batch (ADR 0007).
"""
