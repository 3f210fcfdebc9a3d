"""The asyncio JetStream core (nats.go parity); knows nothing of data frames."""
