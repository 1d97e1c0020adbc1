"""Sharing sessions as traces, from the notebook's side.

The uploader starts, in the background, when the kernel's first session is
created (`start`): it retries the uploads an earlier run left unfinished, and
learns where traces go for the turn footer. After each turn the session's
trace upload is scheduled (debounced, in the uploader's own thread: never on
the kernel's or the agent's critical path); pending ones are flushed when the
kernel exits. `%intern share-traces` shows or flips the dataset's visibility.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...config import Config
    from ...traces.upload import TraceUploader
    from .kernel_store import KernelStore

__all__ = ["NotebookTraces"]

log = logging.getLogger(__name__)
# After a kernel's first session is created, the uploader starts this much later.
START_DELAY_S = 1.5
USAGE = "`%intern share-traces` takes nothing (show where traces go), `public` or `private`."


class NotebookTraces:
    def __init__(self, kernel_store: KernelStore):
        self._kernel_store = kernel_store
        self._uploader: TraceUploader | None = None
        self._lock = threading.Lock()
        self.footer: str | None = None  # one line for the view's footer, once known
        # The footer says "log in" or "unknown": look again after the next turn.
        self._footer_stale = False

    def uploader(self, config: Config) -> TraceUploader | None:
        if not (config.share_traces and config.save_sessions):
            return None
        with self._lock:
            if self._uploader is None:
                store = self._kernel_store.get(config)
                if store is None:
                    return None
                from ...traces.upload import TraceUploader

                self._uploader = TraceUploader(store, config)
                atexit.register(self._uploader.close, 10.0)
                threading.Thread(target=self._start, args=(config,), daemon=True).start()
            self._uploader.config = config
            return self._uploader

    def start(self, config: Config, *, delay: float = START_DELAY_S) -> None:
        """A session was created: start the uploader (once per kernel) after `delay`
        seconds, so its imports do not compete with the cell that created the
        session; returns at once."""
        if config.share_traces and config.save_sessions and self._uploader is None:
            timer = threading.Timer(delay, self._schedule, args=(config, None))
            timer.daemon = True
            timer.start()

    def _start(self, config: Config) -> None:
        """First use in this kernel: retry what failed before, learn where traces go."""
        uploader = self._uploader
        try:
            if uploader is not None:
                uploader.retry_failed()
        except Exception:
            log.warning("retrying earlier trace uploads failed", exc_info=True)
        self.refresh_footer(config)

    def refresh_footer(self, config: Config) -> None:
        import asyncio

        from ...traces.upload import share_traces_info

        try:
            info = asyncio.run(share_traces_info(config))
        except Exception:
            log.warning("could not check where traces go", exc_info=True)
            return
        self._set_footer(info)

    def _set_footer(self, info: dict[str, object]) -> None:
        from ...traces.upload import describe_share_status

        self.footer = describe_share_status(info)
        self._footer_stale = bool(info.get("reason") or info.get("error"))

    def after_turn(self, config: Config, session_id: str) -> None:
        """Schedule the session's upload; returns at once, off the caller's thread."""
        if config.share_traces and config.save_sessions:
            threading.Thread(target=self._schedule, args=(config, session_id), daemon=True).start()

    def _schedule(self, config: Config, session_id: str | None) -> None:
        """Start the uploader if need be, and ask it for `session_id`'s upload (if any)."""
        try:
            uploader = self.uploader(config)
            if uploader is not None and session_id is not None:
                uploader.schedule(session_id)
        except Exception:
            log.warning("scheduling the trace upload failed", exc_info=True)
        if self._footer_stale:  # e.g. the user has logged in since
            self.refresh_footer(config)

    def command(self, config: Config, arg: str) -> str:
        """`%intern share-traces [public|private]`: one or two lines for the user."""
        from ...errors import InternError
        from ...runtime import get_runtime
        from ...traces.upload import describe_share_status, set_visibility, share_traces_info

        arg = arg.strip().lower()
        if arg not in ("", "public", "private"):
            return USAGE
        try:
            runtime = get_runtime()  # a cell runs inside the kernel's loop: use the intern one
            if arg:
                info = runtime.call(set_visibility(config, arg == "private"), timeout=120)
            else:
                info = runtime.call(share_traces_info(config), timeout=120)
        except InternError as exc:
            return str(exc)
        except concurrent.futures.TimeoutError:
            return "The Hugging Face Hub did not answer in time; try again later."
        self._set_footer(info)
        lines = [describe_share_status(info)]
        if not config.share_traces:
            lines.append("Turn sharing on with `share_traces: true` in your config.")
        elif arg:
            lines.append(f"The dataset is now {arg}.")
        return "\n".join(lines)

    def status(self, session_id: str) -> str | None:
        uploader = self._uploader
        return uploader.status_note(session_id) if uploader is not None else None
