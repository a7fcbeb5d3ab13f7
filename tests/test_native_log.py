"""``native_stderr_filtered``: native libraries' chatter on fd 2 is dropped, everything else passed on in order."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from edge_infer.native_log import kept_lines

SCRIPT = textwrap.dedent(r"""
    import ctypes, os, sys
    from edge_infer.native_log import native_stderr_filtered

    libc = ctypes.CDLL(None)

    def native(text):  # what C++ code does: write(2, ...), below Python's sys.stderr
        data = text.encode()
        libc.write(2, data, len(data))

    print("before", file=sys.stderr, flush=True)
    with native_stderr_filtered([r"^INFO: ", r"^\[threadpool\.cpp:\d+\] "]):
        native("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        native("[threadpool.cpp:66] Resetting threadpool to 2 threads.\n")
        native("WARNING: something the user should see\n")
        print("python line inside", file=sys.stderr)
        os.write(1, b"stdout is untouched\n")
    print("after", file=sys.stderr, flush=True)
""")


def test_native_chatter_is_dropped_and_the_rest_passed_on_in_order() -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    assert r.stdout == "stdout is untouched\n"
    assert r.stderr.splitlines() == ["before", "WARNING: something the user should see", "python line inside",
                                     "after"]  # fmt: skip


def test_an_exception_inside_still_restores_stderr() -> None:
    script = SCRIPT.replace('os.write(1, b"stdout is untouched\\n")', 'raise SystemExit(3)')
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 3
    assert r.stderr.splitlines() == ["before", "WARNING: something the user should see", "python line inside"]


def test_kept_lines_keeps_line_endings_and_unmatched_lines() -> None:
    assert kept_lines("INFO: x\nkeep\r\nINFO: y", [r"^INFO: "]) == "keep\r\n"
    assert kept_lines("no newline at the end", []) == "no newline at the end"
