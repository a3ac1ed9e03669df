"""The gRPC edge: grpclib services hosted through trio-asyncio, translating to router calls."""
