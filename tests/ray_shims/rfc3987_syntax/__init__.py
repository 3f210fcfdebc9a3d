"""Shadows rfc3987_syntax for Ray's helper processes in the tests (see tests/test_ray.py).

Importing the real package builds a Lark Earley grammar: measured 4.2 s of CPU on the CI
machine. Every Ray process imports it indirectly (ray.runtime_env -> jsonschema, which
treats it as optional and skips IRI format checks without it), so Ray's agents miss the
raylet's fixed 15 s start-up window on a loaded 2-core machine. jsonschema catches this.
"""

raise ImportError("rfc3987_syntax is shadowed in Ray's test processes (slow import)")
