"""Object stores over JetStream streams (nats.go object.go)."""
