"""Keep native libraries' chatter out of the CLI's stderr: ``native_stderr_filtered(drop_patterns)``.

Engines written in C++ print to file descriptor 2 directly, below Python's ``sys.stderr``: LiteRT's ``INFO: Created
TensorFlow Lite XNNPACK delegate for CPU.``, ExecuTorch's ``[cpuinfo_utils.cpp:71] Reading file ...`` and
``[threadpool.cpp:66] Resetting threadpool to 2 threads.``. A command whose errors are one line each should not add
them. While the block runs, fd 2 points at a temporary file (a file, not a pipe: nothing must read it meanwhile, so
a chatty library can never fill a buffer and block); afterwards every line that matches none of the patterns is
written back to stderr, in order, so warnings and errors still reach the user.

    with native_stderr_filtered([r"^INFO: "]):
        interpreter = Interpreter(model_path=path)
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator

Patterns = Iterable["str | re.Pattern[str]"]


def kept_lines(text: str, drop_patterns: Patterns) -> str:
    """``text`` without the lines any of ``drop_patterns`` matches (``re.search``), line endings kept."""
    patterns = [re.compile(p) if isinstance(p, str) else p for p in drop_patterns]
    return "".join(line for line in text.splitlines(keepends=True) if not any(p.search(line) for p in patterns))


@contextlib.contextmanager
def native_stderr_filtered(drop_patterns: Patterns) -> Iterator[None]:
    """Hold what anything writes to fd 2 meanwhile (native code and Python alike), then pass on the lines none of
    ``drop_patterns`` matches. Without a real stderr (embedded, replaced by a Python object) it does nothing."""
    patterns = list(drop_patterns)
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), fd)
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()  # Python's own buffered writes belong to the held text
            os.dup2(saved, fd)
            os.close(saved)
            held.seek(0)
            kept = kept_lines(held.read().decode("utf-8", "replace"), patterns)
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


__all__ = ["kept_lines", "native_stderr_filtered"]
