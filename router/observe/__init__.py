"""What the router shows of itself: Prometheus metrics, traces, the AsyncAPI document,
stats snapshots. Above the actors and storage.
"""
