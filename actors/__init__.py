"""The router's actors: each owns its state, reads one mailbox, and lives in a supervised nursery."""
