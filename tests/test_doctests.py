"""The examples in the package's docstrings run, against the installed package."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import pkgutil

import pytest

import reprdynamics

# Keras 3 picks its backend at import; the doctests use torch (no TensorFlow needed).
os.environ.setdefault("KERAS_BACKEND", "torch")

_NEEDS = {
    "reprdynamics.integrations.torch": "torch",
    "reprdynamics.integrations.lightning": "lightning",
    "reprdynamics.integrations.keras": "keras",
    "reprdynamics.demo": "torch",
}
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(reprdynamics.__path__, prefix="reprdynamics.")
    if not info.name.startswith("reprdynamics.sample_run")
)


def test_the_package_has_modules_to_check():
    assert "reprdynamics.analysis.api" in MODULES
    assert "reprdynamics.storage.run" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    framework = _NEEDS.get(name)
    if framework and importlib.util.find_spec(framework) is None:
        pytest.skip(f"{name} needs {framework}, which is not installed")
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
