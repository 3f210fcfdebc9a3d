"""The blocking engine: one loop thread, a handler thread, generated twins."""
