"""Build configuration beyond pyproject.toml: the optional C hot paths.

``jsdata._cparse`` (the protocol parser's bulk scan, batch PUB formatting) and
``jsdata._cmsgpack`` and ``jsdata._cjson`` (msgpack and JSON rows -> Arrow columns, sharing
``jsdata/_columns.h``) are plain C on the CPython API (gcc is
all they need). They are optional: when one cannot be built (no compiler, PyPy) the install
still succeeds and its pure-Python twin is used (``jsdata.client._native`` says which).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("jsdata._cparse", ["jsdata/_cparse.c"], optional=True, extra_compile_args=["-O3"]),
    Extension("jsdata._cmsgpack", ["jsdata/_cmsgpack.c"], depends=["jsdata/_columns.h"],
              optional=True, extra_compile_args=["-O3"]),
    Extension("jsdata._cjson", ["jsdata/_cjson.c"], depends=["jsdata/_columns.h"],
              optional=True, extra_compile_args=["-O3"]),
])
