"""An fsspec filesystem over object stores: ``jetstream://bucket/path/name.parquet``.

Buckets are top-level directories; ``/`` in object names makes pseudo-directories (nothing
is stored for a directory). The connection comes from ``storage_options`` (``servers`` or
``url`` plus any :func:`jsdata.connect` keyword: ``user``, ``password``, ``token``,
``creds``, ``nkeys_seed``, ``tls``, ``domain``, ...), else JSDATA_URL / NATS_URL, else the
default embedded server. fsspec caches instances per set of options.

    pd.read_parquet("jetstream://configs/t.parquet", storage_options={"servers": url})
    fs = fsspec.filesystem("jetstream", servers=url)
    ds = pyarrow.dataset.dataset("configs/dir", filesystem=fs, format="parquet")

Files opened ``"rb"`` are seekable and fetch only the chunks a read needs; files opened
``"wb"`` stream chunks as they are written and publish the object on close.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

import fsspec  # type: ignore[import-untyped]
from fsspec.spec import AbstractFileSystem  # type: ignore[import-untyped]

from . import errors
from .client._conn import redact

__all__ = ["JetStreamFileSystem"]

_FSSPEC_KWARGS = ("use_listings_cache", "listings_expiry_time", "max_paths",
                  "skip_instance_cache", "asynchronous", "loop")


def _not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "no such object or bucket", path)


class JetStreamFileSystem(AbstractFileSystem):
    """fsspec filesystem for JetStream object stores (protocol ``jetstream``).

    ``JetStreamFileSystem(servers=None, *, url=None, js=None, auto_mkdir=True,
    **connect_kwargs)``: ``js`` reuses an open blocking connection (not closed by the
    filesystem); otherwise one is made on first use with ``jsdata.connect(servers or url,
    **connect_kwargs)``. ``auto_mkdir`` creates a missing bucket when a file is written.
    """

    protocol = "jetstream"
    root_marker = ""

    def __init__(self, servers: Any = None, *, url: str | None = None, js: Any = None,
                 auto_mkdir: bool = True, **kwargs: Any) -> None:
        fs_kw = {k: kwargs.pop(k) for k in _FSSPEC_KWARGS if k in kwargs}
        super().__init__(**fs_kw)
        if servers is None:
            servers = kwargs.pop("server", None)
        self._servers = servers or url
        self._connect_kwargs = kwargs
        self._given_js = js
        self._js: Any = js
        self._lock = threading.Lock()
        self._stores: dict[str, Any] = {}
        self.auto_mkdir = auto_mkdir

    def __repr__(self) -> str:
        if self._given_js is not None:
            where = repr(self._given_js)
        elif self._servers:
            srv = self._servers if isinstance(self._servers, str) else ",".join(self._servers)
            where = ",".join(redact(u) for u in srv.split(","))
        else:
            where = "default"
        return f"<JetStreamFileSystem {where}>"

    # -- connection ----------------------------------------------------------------------------
    @property
    def js(self) -> Any:
        """The blocking JetStream connection (made on first use)."""
        js = self._js
        if js is None:
            with self._lock:
                if self._js is None:
                    import jsdata
                    self._js = jsdata.connect(self._servers, **self._connect_kwargs)
                js = self._js
        return js

    def close(self) -> None:
        """Close the connection this filesystem opened (a given ``js`` is left open)."""
        with self._lock:
            js, self._js = self._js, self._given_js
            self._stores.clear()
        if js is not None and js is not self._given_js:
            js.close()

    def _store(self, bucket: str, create: bool = False) -> Any:
        obs = self._stores.get(bucket)
        if obs is not None:
            return obs
        if not bucket:
            raise _not_found(bucket)
        try:
            obs = self.js.object_store(bucket)
        except errors.InvalidNameError:
            raise _not_found(bucket) from None
        except errors.BucketNotFoundError:
            if not create:
                raise _not_found(bucket) from None
            obs = self.js.create_object_store(bucket=bucket)
        self._stores[bucket] = obs
        return obs

    # -- paths ---------------------------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = super()._strip_protocol(path)
        return path.lstrip("/")

    def _split(self, path: str) -> tuple[str, str]:
        p = self._strip_protocol(path)
        bucket, _, key = p.partition("/")
        return bucket, key.strip("/")

    def _file_entry(self, bucket: str, info: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": f"{bucket}/{info.name}", "size": int(info.size or 0), "type": "file",
            "mtime": info.mtime, "digest": info.digest, "chunks": info.chunks,
            "nuid": info.nuid}
        link = info.link
        if link is not None:
            entry["link"] = f"{link.bucket}/{link.name or ''}"
        return entry

    @staticmethod
    def _dir_entry(name: str) -> dict[str, Any]:
        return {"name": name, "size": 0, "type": "directory"}

    def _objects(self, bucket: str) -> list[Any]:
        try:
            return list(self._store(bucket).list())
        except errors.BucketNotFoundError:
            self._stores.pop(bucket, None)
            raise _not_found(bucket) from None

    # -- listing -------------------------------------------------------------------------------
    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """Buckets (at the root), or the objects and pseudo-directories under ``path``."""
        bucket, key = self._split(path)
        if not bucket:
            out = [self._dir_entry(b) for b in sorted(self.js.object_store_names())]
        else:
            objs = self._objects(bucket)
            prefix = f"{key}/" if key else ""
            files: dict[str, dict[str, Any]] = {}
            dirs: dict[str, dict[str, Any]] = {}
            for o in objs:
                name = o.name
                if not name.startswith(prefix):
                    continue
                rest = name[len(prefix):]
                child, sep, _ = rest.partition("/")
                full = f"{bucket}/{prefix}{child}"
                if sep:
                    dirs.setdefault(full, self._dir_entry(full))
                elif rest:
                    files[full] = self._file_entry(bucket, o)
            if not files and not dirs and key:
                match = [o for o in objs if o.name == key]
                if not match:
                    raise _not_found(path)
                files[f"{bucket}/{key}"] = self._file_entry(bucket, match[0])
            out = sorted([*dirs.values(), *files.values()], key=lambda e: e["name"])
        return out if detail else [e["name"] for e in out]

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False,
             detail: bool = False, **kwargs: Any) -> Any:
        """Every object below ``path`` (one listing per bucket)."""
        bucket, key = self._split(path)
        buckets = [bucket] if bucket else sorted(self.js.object_store_names())
        out: dict[str, dict[str, Any]] = {}
        base_depth = 0 if not bucket else (1 + (len(key.split("/")) if key else 0))
        for b in buckets:
            if not bucket and withdirs and (maxdepth is None or maxdepth >= 1):
                out[b] = self._dir_entry(b)
            try:
                objs = self._objects(b)
            except FileNotFoundError:
                if bucket:
                    raise
                continue
            prefix = f"{key}/" if key else ""
            for o in objs:
                name = o.name
                if key and name == key:
                    out[f"{b}/{name}"] = self._file_entry(b, o)
                    continue
                if not name.startswith(prefix):
                    continue
                parts = f"{b}/{name}".split("/")
                depth = len(parts) - base_depth
                if maxdepth is not None and depth > maxdepth:
                    if withdirs:
                        d = "/".join(parts[:base_depth + maxdepth])
                        out.setdefault(d, self._dir_entry(d))
                    continue
                out[f"{b}/{name}"] = self._file_entry(b, o)
                if withdirs:
                    for i in range(base_depth + 1, len(parts)):
                        d = "/".join(parts[:i])
                        out.setdefault(d, self._dir_entry(d))
        if withdirs and bucket and self.isdir(path):
            root = f"{bucket}/{key}" if key else bucket
            out.setdefault(root, self._dir_entry(root))
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """An object's details (size, mtime, digest, ...), or a directory entry."""
        bucket, key = self._split(path)
        if not bucket:
            return self._dir_entry("")
        obs = self._store(bucket)
        if not key:
            return self._dir_entry(bucket)
        try:
            info = obs.get_info(key)
        except errors.ObjectNotFoundError:
            info = None
        except errors.InvalidNameError:
            raise _not_found(path) from None
        if info is not None:
            entry = self._file_entry(bucket, info)
            link = info.link
            if link is not None and link.name:
                try:
                    target = self._store(link.bucket).get_info(link.name)
                    entry["size"] = int(target.size or 0)
                except (errors.JetStreamError, FileNotFoundError):
                    pass
            elif link is not None:
                entry["type"] = "directory"
            return entry
        prefix = key + "/"
        if any(o.name.startswith(prefix) for o in self._objects(bucket)):
            return self._dir_entry(f"{bucket}/{key}")
        raise _not_found(path)

    def modified(self, path: str) -> Any:
        """The object's modification time (aware UTC datetime)."""
        info = self.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(path)
        return info["mtime"]

    def created(self, path: str) -> Any:
        """The time the current version of the object was stored."""
        return self.modified(path)

    def ukey(self, path: str) -> str:
        """A unique key of the object's content (its digest)."""
        info = self.info(path)
        return str(info.get("digest") or info.get("nuid") or "")

    def checksum(self, path: str) -> int:
        return int.from_bytes(self.ukey(path).encode()[-16:], "big")

    # -- buckets -------------------------------------------------------------------------------
    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Create the bucket (deeper directories are implicit in object names)."""
        bucket, key = self._split(path)
        if not bucket:
            return
        try:
            self._store(bucket)
            if not key:
                raise FileExistsError(errno.EEXIST, "bucket exists", bucket)
        except FileNotFoundError:
            if key and not create_parents:
                raise
            try:
                self._stores[bucket] = self.js.create_object_store(bucket=bucket, **kwargs)
            except errors.InvalidNameError as e:
                raise OSError(errno.EINVAL, str(e), bucket) from None

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Create the bucket of ``path`` if missing."""
        try:
            self.mkdir(path, create_parents=True)
        except FileExistsError:
            if not exist_ok:
                raise

    def rmdir(self, path: str) -> None:
        """Delete an empty bucket (pseudo-directories vanish with their objects)."""
        bucket, key = self._split(path)
        if not bucket or key:
            return
        if self._objects(bucket):
            raise OSError(errno.ENOTEMPTY, "bucket is not empty", bucket)
        try:
            self.js.delete_object_store(bucket)
        except errors.BucketNotFoundError:
            raise _not_found(path) from None
        finally:
            self._stores.pop(bucket, None)

    # -- files ---------------------------------------------------------------------------------
    def _open(self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True,
              cache_options: Any = None, **kwargs: Any) -> Any:
        bucket, key = self._split(path)
        if not key:
            raise IsADirectoryError(errno.EISDIR, "a bucket is not a file", path)
        if "r" in mode:
            obs = self._store(bucket)
            try:
                return obs.get(key)
            except errors.ObjectNotFoundError:
                raise _not_found(path) from None
            except errors.ObjectLinkError:
                raise IsADirectoryError(errno.EISDIR, "a bucket link", path) from None
        if "a" in mode or "+" in mode:
            raise NotImplementedError(f"objects cannot be opened with mode {mode!r}")
        obs = self._store(bucket, create=self.auto_mkdir)
        if "x" in mode and self.exists(path):
            raise FileExistsError(errno.EEXIST, "object exists", path)
        return obs.open(key, "wb", **kwargs)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        """The object's bytes (or the range ``start:end``)."""
        bucket, key = self._split(path)
        obs = self._store(bucket)
        try:
            if start is None and end is None:
                return bytes(obs.get_bytes(key))
            with obs.get(key) as f:
                size = f.size
                s = 0 if start is None else (start if start >= 0 else max(0, size + start))
                e = size if end is None else (end if end >= 0 else max(0, size + end))
                f.seek(s)
                return bytes(f.read(max(0, e - s)))
        except errors.ObjectNotFoundError:
            raise _not_found(path) from None

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite",
                  **kwargs: Any) -> None:
        """Store ``value`` as the object at ``path``."""
        bucket, key = self._split(path)
        if not key:
            raise IsADirectoryError(errno.EISDIR, "a bucket is not a file", path)
        obs = self._store(bucket, create=self.auto_mkdir)
        if mode == "create" and self.exists(path):
            raise FileExistsError(errno.EEXIST, "object exists", path)
        obs.put_bytes(key, value)

    def put_file(self, lpath: str, rpath: str, callback: Any = None, mode: str = "overwrite",
                 **kwargs: Any) -> None:
        """Upload a local file (local directories only make the bucket)."""
        bucket, key = self._split(rpath)
        if os.path.isdir(lpath):
            self.makedirs(bucket, exist_ok=True)
            return
        if not key:
            raise IsADirectoryError(errno.EISDIR, "a bucket is not a file", rpath)
        obs = self._store(bucket, create=self.auto_mkdir)
        if mode == "create" and self.exists(rpath):
            raise FileExistsError(errno.EEXIST, "object exists", rpath)
        info = obs.put_file(lpath, name=key)
        if callback is not None and hasattr(callback, "relative_update"):
            callback.set_size(info.size)
            callback.relative_update(info.size)

    def get_file(self, rpath: str, lpath: str | None = None, callback: Any = None,
                 outfile: Any = None, **kwargs: Any) -> None:
        """Download an object to a local file (or into ``outfile``)."""
        if self.isdir(rpath):
            if lpath is not None:
                os.makedirs(lpath, exist_ok=True)
            return
        bucket, key = self._split(rpath)
        obs = self._store(bucket)
        try:
            if outfile is not None:
                with obs.get(key) as f:
                    for chunk in f.iter_chunks():
                        outfile.write(chunk)
                return
            assert lpath is not None
            obs.get_file(key, lpath)
        except errors.ObjectNotFoundError:
            raise _not_found(rpath) from None

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy an object (streamed through this client)."""
        b1, k1 = self._split(path1)
        b2, k2 = self._split(path2)
        if not k1:
            return
        src = self._store(b1)
        dst = self._store(b2, create=self.auto_mkdir)
        try:
            with src.get(k1) as f:
                dst.put(k2, f)
        except errors.ObjectNotFoundError:
            raise _not_found(path1) from None

    def rm_file(self, path: str) -> None:
        """Delete an object (paths of buckets and pseudo-directories are ignored)."""
        bucket, key = self._split(path)
        if not bucket or not key:
            return
        obs = self._store(bucket)
        try:
            obs.get_info(key)  # a deleted object is gone for a filesystem
            obs.delete(key)
        except errors.ObjectNotFoundError:
            if not self.isdir(path):
                raise _not_found(path) from None

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete objects (``recursive``: everything below a pseudo-directory or bucket;
        buckets themselves stay, see :meth:`rmdir`)."""
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        for p in reversed(paths):
            bucket, key = self._split(p)
            if not bucket or not key:
                continue
            try:
                self._store(bucket).delete(key)
            except errors.ObjectNotFoundError:
                pass  # a pseudo-directory

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget cached bucket handles (listings are never cached)."""
        if path is None:
            self._stores.clear()
        else:
            self._stores.pop(self._split(path)[0], None)
        super().invalidate_cache(path)


def _register() -> None:
    """Register the protocol with fsspec (the package's entry point does so when installed)."""
    try:
        fsspec.register_implementation("jetstream", JetStreamFileSystem, clobber=False)
    except ValueError:
        pass  # already registered (by the entry point or earlier)


_register()
