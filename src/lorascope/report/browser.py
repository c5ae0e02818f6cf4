"""A headless Chromium driven over the DevTools protocol on a pipe (no extra Python package, no network).

Used to screenshot report figures: `Browser.open()` starts it, `page(...)` loads a file, `evaluate` runs a
script, `screenshot` captures a clip. The browser binary is $LORASCOPE_CHROMIUM or the first of the usual
names on PATH (Debian/Ubuntu: `apt-get install chromium`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from lorascope.errors import InputError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MAC = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
FLAGS = ("--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--mute-audio",
         "--disable-extensions", "--remote-debugging-pipe")


def find_browser() -> str:
    """The Chromium/Chrome executable; InputError saying how to get one when there is none."""
    given = os.environ.get("LORASCOPE_CHROMIUM")
    if given:
        if not (Path(given).is_file() and os.access(given, os.X_OK)):
            raise InputError(f"LORASCOPE_CHROMIUM={given}: not an executable file")
        return given
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    if Path(MAC).is_file():
        return MAC
    raise InputError("--format png needs a Chromium or Chrome browser and none was found: install one "
                     "(Debian/Ubuntu: apt-get install chromium) or set LORASCOPE_CHROMIUM to its path")


class Browser:
    """One headless browser process and one page of it."""

    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int, profile: str) -> None:
        self.proc, self._out, self._in, self._profile = proc, to_browser, from_browser, profile
        self._buf = b""
        self._id = 0
        self.session: str | None = None
        self.events: list[dict] = []

    @classmethod
    def open(cls, executable: str | None = None, timeout: float = 60.0) -> Browser:
        """Start the browser and attach to a fresh blank page."""
        executable = executable or find_browser()
        profile = tempfile.mkdtemp(prefix="lorascope-chromium-")
        cmd_r, cmd_w = os.pipe()  # we write commands, the browser reads them on its fd 3
        res_r, res_w = os.pipe()  # the browser writes replies on its fd 4, we read them
        # Copies above fd 9, so that placing them at 3 and 4 in the child cannot overwrite one with the other.
        high_r, high_w = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(res_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(res_w)
        flags = list(FLAGS) + [f"--user-data-dir={profile}", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.insert(0, "--no-sandbox")  # Chromium refuses to run as root with its sandbox

        def wire() -> None:  # in the child, before exec: every other descriptor is close-on-exec (PEP 446)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        try:
            proc = subprocess.Popen([executable, *flags], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, close_fds=False, preexec_fn=wire)
        except OSError as e:
            for fd in (high_r, high_w, cmd_w, res_r):
                os.close(fd)
            shutil.rmtree(profile, ignore_errors=True)
            raise InputError(f"{executable}: cannot start the browser ({e.strerror})") from e
        os.close(high_r)
        os.close(high_w)
        browser = cls(proc, cmd_w, res_r, profile)
        try:
            target = browser.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
            browser.session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        except BaseException:
            browser.close()
            raise
        return browser

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise InputError("the headless browser did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise InputError("the headless browser exited unexpectedly")
            self._buf += chunk
        message, _, self._buf = self._buf.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, timeout: float = 60.0) -> dict:
        """Send one command (to the page once attached) and return its result; events are kept in `events`."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise InputError(f"headless browser: {method} failed ({reply['error'].get('message')})")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict:
        """Wait for (or find among those seen) an event of `method`."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def load(self, path: Path, width: int = 1200, height: int = 900, scale: float = 2.0) -> None:
        """Show the local file `path` at a fixed viewport, in the light colour scheme, and wait for its load."""
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": False})
        self.call("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
        self.call("Page.enable")
        self.call("Page.navigate", {"url": Path(path).resolve().as_uri()})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The JSON value of a script run in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise InputError(f"headless browser: script failed ({result['exceptionDetails'].get('text')})")
        return result["result"].get("value")

    def screenshot(self, clip: dict | None = None) -> bytes:
        """A PNG of `clip` ({x, y, width, height} in CSS pixels of the page), or of the whole page."""
        if clip is None:
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            clip = {"x": 0, "y": 0, "width": size[0], "height": size[1]}
        params = {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}}
        return base64.b64decode(self.call("Page.captureScreenshot", params)["data"])

    def close(self) -> None:
        """End the browser and remove its temporary profile."""
        try:
            if self.proc.poll() is None:
                with contextlib.suppress(InputError, OSError):
                    self.call("Browser.close", timeout=5)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        finally:
            for fd in (self._out, self._in):
                with contextlib.suppress(OSError):
                    os.close(fd)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
