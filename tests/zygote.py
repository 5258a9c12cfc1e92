"""Forked pytest runs for the self-tests: a pre-warmed interpreter per test process.

Most self-tests run the theorem suite on a subject in a fresh ``python -m pytest``. On this project's
2-core CI about 4.5 s of each such run is the same imports: torch, ``torch._dynamo`` (imported by the
first optimizer a run builds) and Hypothesis — over a hundred runs, minutes. The zygote is an
interpreter that imports those once (with numpy and sympy, which the exact oracles use; nothing of
kinkcheck, of the tests or of the theorems) and then forks one child per run. The child is made what
``python -m pytest ARGS`` started in the caller's directory and environment would be: it takes the
caller's working directory, environment, argv, ``sys.path`` (``-m``'s working directory, then
``PYTHONPATH``, then the interpreter's own), and writes to the caller's stdout/stderr files; it then
runs pytest's own ``console_main``. Everything the run imports beyond the warm set (the plugin, the
theorem modules, the subjects) is imported by the child.

Only what is read at import time can differ from a fresh interpreter, so a run is forked only when
the caller's environment agrees with the zygote's on every variable outside ``PER_RUN`` (Hypothesis's
CI detection, OMP/MKL thread counts, torch's switches, PYTHON* flags are all outside it); otherwise,
and wherever fork or AF_UNIX is missing, ``popen`` returns None and the caller starts a real
subprocess. Set ``KINKCHECK_SELFTEST_FRESH=1`` to run every self-test run in a fresh interpreter.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

# Variables a self-test may set per run: read when the run starts, never at import of the warm set
# (PYTHONDONTWRITEBYTECODE: the child sets sys.dont_write_bytecode from it, as a fresh interpreter would).
PER_RUN = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "HOME", "USERPROFILE", "PY_COLORS", "COLUMNS", "LINES",
           "TOX_ENV_DIR", "PWD", "OLDPWD")
PER_RUN_PREFIXES = ("KINKCHECK_", "PYTEST_")

_SERVER = r'''
import json, os, socket, struct, sys
import torch, torch._dynamo, hypothesis, pytest, _pytest.pytester  # the imports every run would pay for
try:
    import numpy, sympy  # the exact oracles' (several theorem modules)
    import torch._inductor.compile_fx  # T1's torch.compile axis (0.8 s per run that compiles)
except ImportError:
    pass
import gc
# the warm set's objects live as long as the interpreter: out of every collection's way in the children (pytest
# collects several times as a run ends; over torch's heap about 0.7 s per run, 0.1 s frozen)
gc.freeze()
path, own_path = sys.argv[1], json.loads(sys.argv[2])
base = [p for p in sys.path if p and p not in own_path]  # the interpreter's own entries (stdlib, site)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
sys.stdout.write("ready\n")
sys.stdout.flush()


def read(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def child(request, out, err):
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))  # as a fresh interpreter reads it
    extra = [os.path.abspath(p) for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [request["cwd"], *extra, *base]
    sys.argv = [os.path.join(os.path.dirname(pytest.__file__), "__main__.py"), *request["args"]]
    code = 1
    try:
        code = pytest.console_main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))


while True:
    conn, _ = server.accept()
    with conn:
        try:
            size, fds, _, _ = socket.recv_fds(conn, 4, 2)
            request = json.loads(read(conn, struct.unpack("!I", size)[0]).decode())
        except (EOFError, ValueError, struct.error):
            continue
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            server.close()
            conn.close()
            child(request, *fds)
        for fd in fds:
            os.close(fd)
        conn.sendall(struct.pack("!i", pid))
        _, status = os.waitpid(pid, 0)
        try:
            conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
        except OSError:
            pass
'''


def _differs_only_per_run(env: dict, base: dict) -> bool:
    names = set(env) ^ set(base) | {k for k in set(env) & set(base) if env[k] != base[k]}
    return all(n in PER_RUN or n.startswith(PER_RUN_PREFIXES) for n in names)


class ForkedRun:
    """The part of ``subprocess.Popen`` that ``pytester.run`` uses: ``stdin``, ``wait(timeout)``, ``kill``."""

    stdin = None

    def __init__(self, conn: socket.socket, pid: int, args: list[str]):
        self._conn, self.pid, self.args, self.returncode = conn, pid, args, None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                data = b""
                while len(data) < 4:
                    chunk = self._conn.recv(4 - len(data))
                    if not chunk:
                        raise RuntimeError(f"the zygote died while running {self.args}")
                    data += chunk
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
            self.returncode = struct.unpack("!i", data)[0]
            self._conn.close()
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass

    def poll(self):
        return self.returncode


class Zygote:
    """One warm interpreter started with the environment ``base`` (the caller's by default), started on first
    use, ended with this process."""

    def __init__(self, base: dict | None = None):
        self._process = None
        self._dir = None
        self._env = dict(os.environ if base is None else base)
        self._broken = os.environ.get("KINKCHECK_SELFTEST_FRESH") == "1" or not hasattr(os, "fork") \
            or not hasattr(socket, "AF_UNIX") or not hasattr(socket, "send_fds")

    def serves(self, env: dict) -> bool:
        return _differs_only_per_run(env, self._env)

    def _start(self) -> bool:
        self._dir = tempfile.mkdtemp(prefix="kz")
        path = os.path.join(self._dir, "s")
        own = [p for p in self._env.get("PYTHONPATH", "").split(os.pathsep) if p]
        own_abs = sorted({*own, *(os.path.abspath(p) for p in own), os.getcwd(), ""})
        self._process = subprocess.Popen([sys.executable, "-c", _SERVER, path, json.dumps(own_abs)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         text=True, env=self._env)
        line = self._process.stdout.readline()
        if line.strip() != "ready":
            self._process.kill()
            self._broken = True
            return False
        self._path = path
        atexit.register(self.close)
        return True

    def popen(self, args: list[str], *, cwd: str, env: dict, stdout, stderr) -> ForkedRun | None:
        """Fork ``python -m pytest *args`` in ``cwd`` with ``env``, writing to the files ``stdout`` and
        ``stderr`` (objects with ``fileno``); None where a fresh interpreter is needed."""
        if self._broken or not self.serves(env):
            return None
        if self._process is None and not self._start():
            return None
        if self._process.poll() is not None:
            return None
        payload = json.dumps({"args": list(args), "cwd": cwd, "env": env}).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self._path)
            socket.send_fds(conn, [struct.pack("!I", len(payload))], [stdout.fileno(), stderr.fileno()])
            conn.sendall(payload)
            data = b""
            while len(data) < 4:
                chunk = conn.recv(4 - len(data))
                if not chunk:
                    raise OSError("the zygote closed the connection")
                data += chunk
        except OSError:
            conn.close()
            return None
        return ForkedRun(conn, struct.unpack("!i", data)[0], list(args))

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


class Zygotes:
    """At most ``limit`` zygotes, one per environment that differs in what is read at import time (the
    self-tests' own, and the OMP_NUM_THREADS=1 one of the plugin-convention tests): a run goes to the one whose
    environment it shares, a new one is started for a new environment while under the limit, and past it the
    run is a real subprocess."""

    def __init__(self, limit: int = 2):
        self._zygotes: list[Zygote] = []
        self._limit = limit

    def popen(self, args: list[str], *, cwd: str, env: dict, stdout, stderr) -> ForkedRun | None:
        zygote = next((z for z in self._zygotes if z.serves(env)), None)
        if zygote is None and len(self._zygotes) < self._limit:
            zygote = Zygote(os.environ if not self._zygotes else env)
            if not zygote.serves(env):  # the caller's own environment first: the common case
                zygote = Zygote(env)
            self._zygotes.append(zygote)
        return None if zygote is None else zygote.popen(args, cwd=cwd, env=env, stdout=stdout, stderr=stderr)

    def run(self, args: list[str], *, cwd, env: dict, timeout: float) -> subprocess.CompletedProcess | None:
        """``subprocess.run([python, -m, pytest, *args], cwd, env, capture_output, text, timeout)`` forked;
        None where a fresh interpreter is needed."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            forked = self.popen(args, cwd=os.fspath(cwd), env=env, stdout=out, stderr=err)
            if forked is None:
                return None
            try:
                code = forked.wait(timeout)
            except subprocess.TimeoutExpired:
                forked.kill()
                raise
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess([sys.executable, "-m", "pytest", *args], code,
                                               out.read().decode(errors="replace"), err.read().decode(errors="replace"))


ZYGOTE = Zygotes()
