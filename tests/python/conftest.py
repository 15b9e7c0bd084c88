"""Paths for the Python tests; CTest sets MEMTRACE_BUILD to the build tree."""

import glob
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.path.abspath(os.environ.get("MEMTRACE_BUILD", os.path.join(ROOT, "build")))
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, HERE)


@pytest.fixture
def build():
    return BUILD


@pytest.fixture
def testdata():
    return os.path.join(ROOT, "testdata")


def tool(name):
    return os.path.join(BUILD, "tools", name)


@pytest.fixture(scope="session")
def leaky(tmp_path_factory):
    """Five heap snapshots of leaky_app.py, a real program that leaks,
    caches, and loads once."""
    out = tmp_path_factory.mktemp("leaky")
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    subprocess.run([sys.executable, os.path.join(HERE, "leaky_app.py"), str(out), "5"], check=True, env=env)
    return sorted(glob.glob(str(out / "s*.snap")))
