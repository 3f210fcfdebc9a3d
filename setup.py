"""Build configuration beyond pyproject.toml: the optional C hot path of the parser.

``jsdata._cparse`` is plain C on the CPython API (gcc is all it needs). It is optional:
when it cannot be built (no compiler, PyPy) the install still succeeds and the pure-Python
parser is used (``jsdata._parser.NATIVE`` says which).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("jsdata._cparse", ["jsdata/_cparse.c"], optional=True,
                             extra_compile_args=["-O3"])])
