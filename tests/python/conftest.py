"""Paths for the Python tests; CTest sets MEMTRACE_BUILD to the build tree."""

import os
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
