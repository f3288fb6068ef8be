"""Uploaded files streamed to a temporary file while their SHA-256 and size are counted,
never held whole in memory. Past the size limit the bytes are counted but not kept."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any


class HashingSpool:
    """A write-only file-like object werkzeug's form parser writes one upload into."""

    def __init__(self, folder: Path, limit: int) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")
        self._file = os.fdopen(fd, "w+b")
        self.path = Path(name)
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size <= self.limit:
            self._hash.update(data)
            self._file.write(data)
        return len(data)

    @property
    def too_large(self) -> bool:
        return self.size > self.limit

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, n: int = -1) -> bytes:
        return self._file.read(n)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)
