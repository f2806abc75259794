"""Progress bars for put and get (tqdm on stderr: bytes, rate, ETA).

Shown only for transfers of at least :data:`THRESHOLD` bytes, when stdout is a terminal, and not
with ``-q`` or ``--json``; ``FAHADFS_PROGRESS=1`` forces them on, ``=0`` off.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

THRESHOLD = 1 << 20


def enabled(args: argparse.Namespace, total: int, stream: Any = None) -> bool:
    forced = os.environ.get("FAHADFS_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1" and not args.quiet
    if args.quiet or getattr(args, "json", False) or total < THRESHOLD:
        return False
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


_active = 0  # bars on screen: messages must not tear them


def say(text: str) -> None:
    """Print a line on stderr without tearing a progress bar that is on screen."""
    if _active:
        from tqdm import tqdm  # type: ignore[import-untyped]

        tqdm.write(text, file=sys.stderr)
    else:
        print(text, file=sys.stderr, flush=True)


class Bar:
    """Byte progress; ``file_done`` counts files for trees. A disabled Bar does nothing."""

    def __init__(self, args: argparse.Namespace, total: int, desc: str, files: int = 0) -> None:
        self._bar: Any = None
        self.files_total, self.files_done = files, 0
        if enabled(args, total):
            global _active
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=desc,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.2,
                leave=True,
            )
            _active += 1
            if files:
                self._bar.set_postfix_str(f"0/{files} files", refresh=False)

    def add(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.update(n)

    def file_done(self) -> None:
        self.files_done += 1
        if self._bar is not None and self.files_total:
            self._bar.set_postfix_str(f"{self.files_done}/{self.files_total} files", refresh=False)

    def tracker(self) -> Any:
        """A callback for the client's ``progress=`` (cumulative bytes of one file)."""
        last = 0

        def update(done: int) -> None:
            nonlocal last
            self.add(done - last)
            last = done

        return update

    def close(self) -> None:
        global _active
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            _active -= 1

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
