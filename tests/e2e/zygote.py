"""Start the e2e bot processes from one that has already imported the bot.

A bot process spends about 6.5 of its 7 s of start-up on this machine importing torch,
diffusers, transformers and discord.py, and the e2e suite starts the bot some thirty
times. Run as a script, this module is the *zygote*: it imports every module of the
product (and the diffusers pipeline classes it loads) once, runs no torch code (no
thread pools to break across a fork), and then forks one child per request. Each child
is what ``python tests/e2e/launcher.py`` would be: its own environment, working
directory, log on stdout and stderr, stdin from /dev/null, default signal handlers,
``launcher.main()`` run unchanged, and its own exit status. Only the imports are shared.

``Zygote`` (test side) starts the zygote and hands out ``ForkedProcess`` objects, which
answer the part of ``subprocess.Popen`` the e2e fixtures use (``pid``, ``poll``, ``wait``,
``send_signal``, ``kill``, ``returncode``: negative for a signal, as in ``subprocess``).

Protocol, one JSON object a line: requests on the zygote's stdin,
``{"env": {...}, "cwd": "...", "log": "..."}``; answers on its stdout, ``{"started": pid}``
for each request in order, and ``{"exited": pid, "code": n}`` when a child ends.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PRODUCT_PACKAGES = ("bot", "core", "engine", "storage")


# --- the zygote process ------------------------------------------------------------------


def preload() -> None:
    """Import every product module and the pipeline classes the bot loads (no torch work)."""
    import importlib
    import pkgutil

    for name in PRODUCT_PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)
    import diffusers

    for name in (
        "StableDiffusionPipeline",
        "StableDiffusionImg2ImgPipeline",
        "StableDiffusionXLPipeline",
        "StableDiffusionXLImg2ImgPipeline",
        "AutoPipelineForImage2Image",
    ):
        getattr(diffusers, name)
    import transformers

    for name in ("CLIPTextModel", "CLIPTokenizer", "CLIPImageProcessor"):
        getattr(transformers, name)
    from core.wordfilter import fold, lexicon

    fold.load_tables()  # the blocked-word filter's tables: read once here, shared by forks
    lexicon.load()


def run_child(request: dict[str, Any], answers: int) -> None:
    """In the forked child: become the bot process of ``request``; never returns."""
    code = 1
    try:
        os.close(answers)
        for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import launcher  # tests/e2e is sys.path[0]: this file was run as a script

        sys.argv = [launcher.__file__]
        code = launcher.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        import logging

        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)


def serve() -> int:
    """The zygote's loop: fork a child for each request, report each child's end."""
    # Answers go to a copy of stdout; stdout itself becomes stderr, so that nothing an
    # import prints can break the protocol.
    answers = os.dup(1)
    os.dup2(2, 1)
    preload()

    def answer(message: dict[str, Any]) -> None:
        os.write(answers, (json.dumps(message) + "\n").encode())

    pending = b""
    children: set[int] = set()
    stdin = sys.stdin.buffer.raw.fileno()
    while True:
        readable, _, _ = select.select([stdin], [], [], 0.05)
        if readable:
            chunk = os.read(stdin, 65536)
            if not chunk:  # the tests ended: let the children be
                return 0
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                pid = os.fork()
                if pid == 0:
                    run_child(json.loads(line), answers)
                children.add(pid)
                answer({"started": pid})
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                answer({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


# --- the test side -----------------------------------------------------------------------


class ForkedProcess:
    """A child of the zygote, driven like ``subprocess.Popen``."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self._zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        self.returncode = self._zygote.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self._zygote.wait_exit(self.pid, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"bot process {self.pid}", timeout or 0)
        self.returncode = code
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The zygote process, seen from the tests: ``spawn(env, cwd, log)`` a bot."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        with log.open("ab") as errors:
            self._process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve())],
                cwd=ROOT,
                env={**env, "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        self._log = log
        self._cond = threading.Condition()
        self._started: list[int] = []
        self._exits: dict[int, int] = {}
        self._closed = False
        self._lock = threading.Lock()  # one spawn at a time: answers come in order
        threading.Thread(target=self._read, name="zygote-reader", daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            message = json.loads(line)
            with self._cond:
                if "started" in message:
                    self._started.append(message["started"])
                else:
                    self._exits[message["exited"]] = message["code"]
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def spawn(
        self, env: dict[str, str], cwd: Path, log: Path, timeout: float = 120
    ) -> ForkedProcess:
        """Fork a bot process (the zygote's first answer waits for its imports)."""
        request = json.dumps({"env": env, "cwd": str(cwd), "log": str(log)}) + "\n"
        with self._lock:
            assert self._process.stdin is not None
            self._process.stdin.write(request.encode())
            self._process.stdin.flush()
            with self._cond:
                if not self._cond.wait_for(lambda: self._started or self._closed, timeout):
                    raise AssertionError(f"the zygote did not fork within {timeout:g} s")
                if not self._started:
                    raise AssertionError(
                        "the zygote ended:\n" + self._log.read_text(errors="replace")[-5000:]
                    )
                return ForkedProcess(self, self._started.pop(0))

    def exit_code(self, pid: int) -> int | None:
        with self._cond:
            return self._exits.get(pid)

    def wait_exit(self, pid: int, timeout: float | None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while pid not in self._exits and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            return self._exits.get(pid)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)


if __name__ == "__main__":
    sys.exit(serve())
