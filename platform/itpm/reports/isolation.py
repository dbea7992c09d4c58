"""Rendering in a child process, with a time limit and a memory limit.

A report's template is written by an admin and WeasyPrint's slow paths (big
tables, font subsetting) are real: a rendering runs in its own process, with
its address space capped (setrlimit) and killed when it overruns its time, so
a runaway report never takes the web process or the worker down with it.

Children come from a fork server that has WeasyPrint imported already (the
first rendering of a process pays for starting it, the next ones do not; a
worker starts it when it starts, `start_renderer`), and that is
single-threaded, so forking it is safe even from a threaded web server. The
server imports the renderer and nothing else: a template's rendering needs
Jinja, the charts and WeasyPrint, not the models, SQLAlchemy or Flask-AppBuilder
(itpm.reports.templates and pdf import none of them), so it starts in half the
time and each child is smaller.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from itpm.reports.templates import RenderError

MEGABYTE = 1024 * 1024
_context = multiprocessing.get_context("forkserver")
#: What the fork server imports before it forks a rendering (a rendering imports nothing else).
RENDERER = ["itpm.reports.isolation", "itpm.reports.pdf"]
_context.set_forkserver_preload(RENDERER)


@dataclass(frozen=True)
class Limits:
    seconds: float = 60.0
    #: The child's address space; WeasyPrint with the CJK fonts mapped needs about 600 MB of it to start.
    memory_mb: int = 2048


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Outcome:
    value: Any
    seconds: float
    #: The child's peak resident memory.
    peak_mb: float


def run_isolated(work: Callable[..., Any], args: tuple[Any, ...], limits: Limits) -> Outcome:
    """`work(*args)` in a child process within `limits`; RenderError when it fails or overruns."""
    receiving, sending = _context.Pipe(duplex=False)
    child = _context.Process(target=_child, args=(sending, work, args, limits), daemon=True)
    started = time.perf_counter()
    child.start()
    sending.close()
    try:
        if not receiving.poll(limits.seconds):
            raise RenderError(
                f"the rendering took longer than its limit of {limits.seconds:g} seconds and was stopped"
            )
        try:
            status, value, peak_kb = receiving.recv()
        except EOFError:
            child.join(5)
            raise RenderError(
                f"the rendering process ended without a result (exit code {child.exitcode}); "
                f"it may have needed more than its memory limit of {limits.memory_mb} MB"
            ) from None
    finally:
        receiving.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    if status == "memory":
        raise RenderError(
            f"the rendering needed more than its memory limit of {limits.memory_mb} MB and was stopped"
        )
    if status == "error":
        raise (
            RenderError(value.message, value.file, value.line)
            if isinstance(value, RenderError)
            else RenderError(value)
        )
    return Outcome(value, time.perf_counter() - started, peak_kb / 1024)


def start_renderer() -> Outcome:
    """Start the fork server now (WeasyPrint imported) and render a small page in a child.

    A worker calls it when it starts, so the first report it renders does not
    also wait the seconds a new fork server takes to import WeasyPrint.
    """
    from itpm.reports.pdf import warm_up

    return run_isolated(warm_up, (), DEFAULT_LIMITS)


def _child(sending: Connection, work: Callable[..., Any], args: tuple[Any, ...], limits: Limits) -> None:
    memory = limits.memory_mb * MEGABYTE
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits.seconds) + 2  # a backstop should the parent be gone
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    try:
        result: tuple[str, Any] = ("ok", work(*args))
    except MemoryError:
        result = ("memory", None)
    except RenderError as error:
        result = ("error", error)
    except Exception as error:
        result = ("error", f"{type(error).__name__}: {error}")
    try:
        sending.send((*result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent is gone (a worker stopped mid-render): nobody is waiting for the result
    sending.close()
