"""Files that other processes read while they are being rewritten."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A temporary sibling of `path` (same suffix, so writers that go by it still do) to
    write to; on success it replaces `path` in one step. Workers of one tuning study write
    the same files while another reads or uploads them: each sees the old file or the new
    one, never a part of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{uuid.uuid4().hex}{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # gone after the replace; left by a failed write
