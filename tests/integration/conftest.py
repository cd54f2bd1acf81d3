"""Fixtures for Bulwark's integration tests: real processes on loopback.

    /usr/bin/python3 -m pytest -q tests/integration

Every test gets origins (examples/origin.py, on ports the OS picks) and a gateway (build/bulwark) with a
config written into its tmp_path. Every process started here is stopped at teardown (SIGTERM, then
SIGKILL), and an atexit hook kills whatever is left if pytest itself is interrupted.

Only the standard library and pytest are used. The helpers the tests share live in helpers.py.
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpers  # noqa: E402
from helpers import Gateway, Origin  # noqa: E402

BULWARK = helpers.BULWARK


def _private_copy(binary):
    """Runs a private copy of the binary, so a rebuild during the run (ninja relinking build/bulwark)
    neither breaks process starts nor mixes two versions in one run."""
    if not binary.is_file():
        return binary
    d = Path(tempfile.mkdtemp(prefix="bulwark-it-"))
    atexit.register(shutil.rmtree, d, True)
    for _ in range(50):
        try:
            shutil.copy2(binary, d / "bulwark")
            return d / "bulwark"
        except OSError:
            time.sleep(0.1)
    return binary


helpers.BULWARK = _private_copy(BULWARK)  # test modules import helpers.BULWARK after this line


def pytest_collection_modifyitems(config, items):
    if not BULWARK.is_file() or not os.access(BULWARK, os.X_OK):
        skip = pytest.mark.skip(
            reason=f"{BULWARK} is missing: build it first "
            "(cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build bulwark)"
        )
        for item in items:
            item.add_marker(skip)


def _terminated(signum, frame):
    # SIGTERM to pytest: unwind like Ctrl-C, so that fixtures stop their processes.
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _terminated)


@atexit.register
def _kill_leftovers():
    for proc in list(helpers.ALL_PROCS):
        if proc.poll() is None:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass


class Processes:
    """Starts origins and gateways for one test (or module) and stops them all at teardown."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.origins = []
        self.gateways = []

    def origin(self, name, **kw):
        o = Origin(name, self.dir, **kw)
        self.origins.append(o)
        o.start()
        return o

    def gateway(self, config_text=None, start=True, **kw):
        """A gateway whose config is config_text, or built by helpers.gateway_config(**kw)."""
        g = Gateway(self.dir / f"gw{len(self.gateways)}", config_text, **kw)
        self.gateways.append(g)
        if start:
            g.start()
        return g

    def close(self):
        problems = []
        for g in self.gateways:
            crashed = g.crashed()
            g.stop(timeout=8)
            if crashed:
                problems.append(crashed)
        for o in self.origins:
            o.stop()
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def procs(tmp_path):
    p = Processes(tmp_path)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def module_procs(tmp_path_factory, request):
    p = Processes(tmp_path_factory.mktemp(request.module.__name__.split(".")[-1]))
    try:
        yield p
    finally:
        p.close()
