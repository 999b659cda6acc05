"""Marks the checks whose numbers come out of training: the labs (nbval) and the tests marked float_sensitive.

Training is chaotic in the last bits of the arithmetic: the vector unit (ATEN_CPU_CAPABILITY=default | avx2 |
avx512) and the thread count (OMP_NUM_THREADS) each change a float32 sum in its seventh digit, and a few
hundred optimizer steps amplify that. These checks assert what holds on any machine (an order, a ratio, a
tolerance with a margin); `.ci/run` runs them a second time under another arithmetic (`-m float_sensitive`).

The README's test command runs on 2 pytest-xdist workers, a file (a test module, a notebook) to each
(`-n 2 --dist loadscope`: a notebook's cells share one kernel and run in order). Each worker computes with one
thread unless OMP_NUM_THREADS says otherwise: 2 workers x 2 threads on 2 cores made the suite slower than one
process, as OpenMP's threads spin while they wait for each other. `.ci/run`'s rerun uses 2 threads in each worker
with OMP_WAIT_POLICY=PASSIVE: waiting passively, they run as fast as one thread each.
"""
import os
import sys

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):  # before torch is imported here or in a notebook's kernel
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "torch" in sys.modules and os.environ["OMP_NUM_THREADS"].isdigit():
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_configure(config):
    config.addinivalue_line("markers", "float_sensitive: trains something; must pass under any arithmetic "
                                       "(ATEN_CPU_CAPABILITY, OMP_NUM_THREADS), see conftest.py")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.float_sensitive)
