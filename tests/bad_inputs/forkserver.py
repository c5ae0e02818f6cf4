"""Run many CLI invocations cheaply, each in its own process: a pre-imported server forks one child per call.

`python -m lorascope.cli` spends ~2 s starting the interpreter and importing torch and transformers; the
corpus has ~70 cases. The server imports the CLI and the command pipelines once (one torch thread, no
parallel region ever runs in it, so forking is safe), then for each request forks a child that sets the
environment and resource limits, points fds 1 and 2 at files, runs `lorascope.cli.main(args)` (what
`python -m lorascope.cli` runs) and exits with its status. Exit status, stderr and the files on disk are
those of a real separate process; `test_forkserver_matches_a_fresh_interpreter` checks that.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

SERVER = r"""
import json, os, resource, sys
import lorascope.cli
from lorascope.cli import main
for name in ["pipelines.scan", "pipelines.index", "pipelines.scale", "pipelines.train", "pipelines.forget",
             "recipes.run", "report"]:
    try:  # only a head start: a child imports whatever is missing itself
        __import__(f"lorascope.{name}")
    except ImportError:
        pass
print("ready", flush=True)
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.environ.update(req["env"])
            if req["fsize"] is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (req["fsize"], req["fsize"]))
            out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(err, 2)
            code = main(req["args"])
            sys.stdout.flush()
            sys.stderr.flush()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class ForkServer:
    """A running server; `run(args, env, fsize)` returns a CompletedProcess-like result of one CLI call."""

    def __init__(self, env: dict[str, str]) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="lorascope-forkserver-"))
        self._proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, env=env)
        assert self._proc.stdout.readline().strip() == "ready"

    def run(self, args: list[str], env: dict[str, str], fsize: int | None = None) -> subprocess.CompletedProcess:
        out, err = self._dir / "stdout", self._dir / "stderr"
        request = {"args": args, "env": env, "fsize": fsize, "stdout": str(out), "stderr": str(err)}
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        reply = json.loads(self._proc.stdout.readline())
        return subprocess.CompletedProcess(args, reply["returncode"], out.read_text(), err.read_text())

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(timeout=30)
