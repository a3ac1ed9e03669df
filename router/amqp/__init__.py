"""RabbitMQ in and out: ingest from an exchange, re-emit stored events."""
