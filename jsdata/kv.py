"""Key-value buckets (placeholder: being written)."""

from __future__ import annotations


class KeyValueManager:
    """Bucket management methods of ``JetStream``."""
