"""The anywidget class behind :func:`reprdynamics.widget`.

It is built on first use (:func:`dashboard_widget_class`), so this module imports without
anywidget installed (the optional ``notebook`` extra).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from reprdynamics.server.routes import STATIC_DIR
from reprdynamics.storage import Run
from reprdynamics.widget.selection import decode_ids, encode_ids, parse_selection
from reprdynamics.widget.server import DashboardServer

__all__ = ["dashboard_widget_class"]


def _bytes_from_json(value: Any, widget: Any) -> bytes:
    """The selection the front end sent (a binary buffer, a memoryview here; or a list),
    as sorted unique ids of the run: the browser is not trusted to have sorted them."""
    if isinstance(value, list):
        ids = np.asarray(value, dtype=np.int64)
    else:
        ids = decode_ids(value)
    ids = np.unique(ids)
    return encode_ids(ids[(ids >= 0) & (ids < widget.n_samples)])


@functools.cache
def dashboard_widget_class() -> type:
    """The widget class (made once; needs anywidget)."""
    import anywidget
    import traitlets

    class DashboardWidget(anywidget.AnyWidget):
        """The dashboard's heat map, data map and projection of one run, in a notebook.

        Made by :func:`reprdynamics.widget`; see there. The views run in an iframe on the
        run's dashboard server (:attr:`server`); :attr:`selection` is the selection the user
        made there, and setting it updates the views.
        """

        _esm = STATIC_DIR / "js" / "widget.js"
        url = traitlets.Unicode(help="The server's address, as the browser reaches it.").tag(
            sync=True
        )
        run_name = traitlets.Unicode(help="The run's name on that server.").tag(sync=True)
        n_samples = traitlets.Int(help="Samples in the run.").tag(sync=True)
        height = traitlets.Int(
            None, allow_none=True, help="Height in CSS pixels; None fits the views."
        ).tag(sync=True)
        theme = traitlets.Unicode(
            None, allow_none=True, help="'light', 'dark' or None (the notebook's)."
        ).tag(sync=True)
        _selection = traitlets.Bytes(b"").tag(sync=True, from_json=_bytes_from_json)

        def __init__(
            self,
            run: Run,
            server: DashboardServer,
            *,
            url: str,
            run_name: str,
            height: int | None,
            theme: str | None,
            selection: Any = None,
        ) -> None:
            ids = parse_selection(selection, run.n_samples)
            super().__init__(
                url=url,
                run_name=run_name,
                n_samples=run.n_samples,
                height=height,
                theme=theme,
                _selection=encode_ids(ids),
            )
            self.run = run
            self.server = server

        @property
        def selection(self) -> np.ndarray:
            """The selected sample ids: a sorted int64 NumPy array without repeats (a copy).

            Every sample (``np.arange(n_samples)``) until the user selects. Set it to ids (any
            order; repeats are dropped), a boolean mask of length ``n_samples``, or ``None``
            (every sample) to change the views' selection.
            """
            return decode_ids(self._selection)

        @selection.setter
        def selection(self, value: Any) -> None:
            self._selection = encode_ids(parse_selection(value, self.n_samples))

        def on_selection(self, callback: Callable[[np.ndarray], Any]) -> Callable[[], None]:
            """Call ``callback(ids)`` whenever the selection changes; returns a function that
            stops that."""

            def changed(change: dict[str, Any]) -> None:
                callback(decode_ids(change["new"]))

            self.observe(changed, names="_selection")
            return lambda: self.unobserve(changed, names="_selection")

        def __repr__(self) -> str:
            n = len(self._selection) // 4
            return (
                f"<DashboardWidget of {self.run_name!r}: {n} of {self.n_samples} samples selected, "
                f"served at {self.url}>"
            )

    DashboardWidget.__qualname__ = "DashboardWidget"
    return DashboardWidget
