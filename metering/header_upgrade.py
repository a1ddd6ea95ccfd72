"""One-time header upgrade: a call file written before some columns existed gets them, once.

A file from an older version (or the original program's 19 columns) would otherwise keep dropping
what newer writers know (``api_key_id``, ``operation_type``, time to first token, ...) on every append.
The first append that finds columns missing rewrites the file under the store's append lock: the same
header plus the missing column names at the end, every existing line plus those columns' defaults (the
values readers already assumed for them), CRLF line ends made LF. The copy is written beside the file,
fsynced and renamed over it, so a crash leaves either the old file or the new one, never a mix; live
readers see a new file (a reset) and read it again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK_BYTES = 8 << 20


def add_columns(path: Path, fd: int, size: int, missing: list[str], defaults: bytes) -> None:
    """Rewrite the locked file ``fd`` (``size`` bytes, ending with a newline) with ``missing`` columns
    appended to its header and ``defaults`` (their CSV text, without a leading comma) to every line.

    Raises OSError (disk full, ...) with the original file untouched.
    """
    suffix = b"," + defaults + b"\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.upgrade.tmp")
    try:
        with open(tmp, "wb") as out:
            head = os.pread(fd, min(size, 1 << 16), 0)
            nl = head.index(b"\n")
            out.write(head[:nl].rstrip(b"\r") + ("," + ",".join(missing) + "\n").encode())
            pos, rest = nl + 1, b""
            while pos < size:
                chunk = rest + os.pread(fd, min(CHUNK_BYTES, size - pos), pos)
                pos += CHUNK_BYTES
                cut = chunk.rfind(b"\n") + 1
                lines, rest = chunk[:cut], chunk[cut:]
                out.write(lines.replace(b"\r\n", b"\n").replace(b"\n", suffix))
            if rest:  # the store repaired the tail before calling: cannot happen, but never drop bytes
                out.write(rest.rstrip(b"\r") + suffix)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.warning("%s: added column(s) %s to the header (one-time upgrade)", path, ", ".join(missing))
