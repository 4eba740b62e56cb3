"""Root pytest configuration: doctests of the package run with the test suite."""

from __future__ import annotations

import importlib.util
import os

# Keras 3 picks its backend at import; the tests and doctests use torch (no TensorFlow).
os.environ.setdefault("KERAS_BACKEND", "torch")

# Modules whose import needs an optional framework are not collected for doctests where
# that framework is absent (their tests skip with a reason instead).
collect_ignore = [
    f"src/reprdynamics/integrations/{name}.py"
    for name, module in (("torch", "torch"), ("lightning", "lightning"), ("keras", "keras"))
    if importlib.util.find_spec(module) is None
]
