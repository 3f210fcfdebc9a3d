"""MkDocs hooks for the jsdata site (loaded by ``hooks:`` in mkdocs.yml).

The guides fence examples that tests/test_docs.py must not run as ```` ```python skip ````;
Markdown's fenced-code parser does not know that info string, so it is shown as a plain
Python block here.
"""

from __future__ import annotations

import re
from typing import Any

_SKIP = re.compile(r"^(\s*```+)\s*python\s+skip\s*$", re.M)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Turn ```` ```python skip ```` fences into ```` ```python ````."""
    return _SKIP.sub(r"\1python", markdown)
