"""Every optional feature, with its extra missing, says once which extra to install.

Each case runs in a fresh interpreter in which the extra's modules cannot be imported (a
meta-path finder refuses them), and calls the feature the way a user would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import importlib.abc, sys
HIDDEN = {hidden!r}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
import reprdynamics as rd
sample = rd.open_run(rd.sample_run_path())
try:
{code}
except Exception as exc:
    print(type(exc).__name__)
    print(exc)
else:
    print("no error")
"""

CASES = {
    "torch": ({"torch"}, "import reprdynamics.integrations.torch"),
    "lightning": (
        {"lightning", "pytorch_lightning"},
        "import reprdynamics.integrations.lightning",
    ),
    "keras": ({"keras"}, "import reprdynamics.integrations.keras"),
    "transformers": ({"transformers"}, "import reprdynamics.integrations.transformers"),
    "transformers (accelerate)": (
        {"accelerate"},
        "import reprdynamics.integrations.transformers",
    ),
    "dask": (
        {"dask", "distributed"},
        "from reprdynamics.analysis.executors import get_executor\n"
        "get_executor('tcp://127.0.0.1:1')",
    ),
    "s3": ({"s3fs"}, "rd.open_run('s3://bucket/run')"),
    "xarray": ({"xarray"}, "sample.to_xarray()"),
    "pandas": ({"pandas"}, "rd.sample_dynamics(sample).to_pandas()"),
    "parquet": ({"pyarrow"}, "rd.sample_dynamics(sample).to_parquet('/nonexistent/x.parquet')"),
    "notebook": ({"anywidget"}, "rd.widget(sample)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_missing_extra_gives_one_install_hint_naming_it(case):
    hidden, code = CASES[case]
    extra = case.split(" ")[0]
    script = PRELUDE.format(hidden=sorted(hidden), code=textwrap.indent(code, "    "))
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    kind, _, message = proc.stdout.partition("\n")
    assert kind == "DependencyMissingError", proc.stdout + proc.stderr[-2000:]
    assert message.count("reprdynamics[") == 1, message
    assert f"pip install 'reprdynamics[{extra}]'" in message
    missing = sorted(hidden)[0] if len(hidden) == 1 else None
    if missing is not None:  # the hint names the module that is missing
        assert f"optional dependency {missing!r}" in message
    assert "Traceback" not in proc.stdout
