"""Key-value buckets over JetStream streams (nats.go kv.go)."""
