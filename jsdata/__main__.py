"""Command line: ``python -m jsdata demo`` and ``python -m jsdata server start|stop|status``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m jsdata demo | server {start,stop,status}")
        return 0 if args else 2
    cmd, rest = args[0], args[1:]
    if cmd == "demo":
        from .demo import main as demo
        return demo()
    if cmd == "server":
        from .server import main as server
        return server(rest)
    print(f"unknown command {cmd!r}; try: python -m jsdata --help", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
