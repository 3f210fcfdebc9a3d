"""Shadows rfc3987_syntax in the processes of the tests that start Ray (tests/test_ray.py,
and the docs pages run by tests/test_docs.py): put this directory first on PYTHONPATH.

Why: every Ray process (driver, dashboard agent, runtime-env agent, log monitor, workers)
imports ``ray.runtime_env`` -> ``jsonschema`` -> ``jsonschema._format``, which imports
rfc3987_syntax when it is installed (the dev environment has it through jupyterlab ->
jupyter-events -> ``jsonschema[format-nongpl]``). Importing it builds a Lark Earley grammar:
about 2 s of the 3 s CPU an ``import ray`` costs here (measured with ``-X importtime``).
Ray 2.60's raylet waits for the dashboard agent's port files with a fixed 15 s timeout
(``NodeManager::WaitForDashboardAgentPorts``: 15000 ms compiled in, not
``RAY_agent_register_timeout_ms``; the ``dashboard_agent_listen_port`` wait cannot be skipped
by pre-selecting ports because the Python side never passes that port to the raylet) and
aborts when the agent misses it. On the shared 2-core CI machine at load ~12 the agent's
import takes longer than that and ``ray.init`` fails ("The current node timed out during
startup"; raylet.out: "Timed out waiting for file .../metrics_agent_port_...").

jsonschema treats the package as optional (it only skips the "iri" format checks without
it), so raising ImportError here is what an environment without it looks like.
"""

raise ImportError("rfc3987_syntax is shadowed in the test processes that start Ray")
