"""Marks the checks whose numbers come out of training: the labs (nbval) and the tests marked float_sensitive.

Training is chaotic in the last bits of the arithmetic: the vector unit (ATEN_CPU_CAPABILITY=default | avx2 |
avx512) and the thread count (OMP_NUM_THREADS) each change a float32 sum in its seventh digit, and a few
hundred optimizer steps amplify that. These checks assert what holds on any machine (an order, a ratio, a
tolerance with a margin); `.ci/run` runs them a second time under another arithmetic (`-m float_sensitive`).
"""
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "float_sensitive: trains something; must pass under any arithmetic "
                                       "(ATEN_CPU_CAPABILITY, OMP_NUM_THREADS), see conftest.py")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.float_sensitive)
