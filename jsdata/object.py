"""Object stores (placeholder: being written)."""

from __future__ import annotations


class ObjectStoreManager:
    """Object store management methods of ``JetStream``."""
