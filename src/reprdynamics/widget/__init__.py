"""The dashboard in a notebook: ``rd.widget(run)`` shows its heat map, data map and
projection inline in Jupyter, with the selection readable and settable from Python.

>>> import reprdynamics as rd                                        # doctest: +SKIP
>>> w = rd.widget(rd.open_run(rd.sample_run_path())); w              # doctest: +SKIP
>>> w.selection = [0, 1, 2]; w.selection                             # doctest: +SKIP
array([0, 1, 2])

The views are the dashboard's own front end (``server/static``), served for the run by a
dashboard server the kernel starts on 127.0.0.1 (:mod:`reprdynamics.widget.server`). The
browser must reach that address: a local Jupyter does; for a remote kernel, forward the
port (see ``docs/notebook.md``). Needs the ``notebook`` extra (anywidget).
"""

from __future__ import annotations

import os
import sys
import types
from typing import TYPE_CHECKING, Any

from reprdynamics.errors import InvalidParameterError, parse_int, require
from reprdynamics.storage import Run, open_run
from reprdynamics.validation import Options, OrNone, check
from reprdynamics.widget.server import (
    DashboardServer,
    _check_port,
    _check_url,
    dashboard_server,
    running_servers,
    stop_servers,
)

if TYPE_CHECKING:  # the class is made at run time, once anywidget is there
    from typing import Any as DashboardWidget

__all__ = ["DashboardServer", "DashboardWidget", "running_servers", "stop_servers", "widget"]

_THEMES = ("light", "dark")


def widget(
    run: Run | str | os.PathLike[str],
    *,
    height: int | None = None,
    theme: str | None = None,
    selection: Any = None,
    port: int | None = None,
    url: str | None = None,
) -> DashboardWidget:
    """A notebook widget showing ``run``'s fingerprint heat map, data map and projection.

    The same views as the dashboard (``reprdynamics serve``), linked the same way: a box or
    lasso in the data map or the projection selects samples, a heat-map cell picks the
    pair of snapshots. The selection is :attr:`DashboardWidget.selection`, both ways.

    Parameters
    ----------
    run
        A run (:func:`~reprdynamics.open_run`) or its path or URL.
    height
        The widget's height in CSS pixels (its views scroll inside); ``None`` (default)
        grows it to fit the views.
    theme
        ``"light"``, ``"dark"``, or ``None`` (default): the notebook's (JupyterLab's
        theme; light elsewhere).
    selection
        The first selection: ids, a boolean mask, or ``None`` (every sample).
    port
        The port of the run's dashboard server on 127.0.0.1; ``None`` (default) reuses the
        run's server or starts one on a free port. Give one to forward it from another
        machine (``ssh -L PORT:127.0.0.1:PORT``).
    url
        The address the *browser* reaches that server at, when not
        ``http://127.0.0.1:PORT`` (e.g. ``"http://localhost:9000"`` when forwarded to
        local port 9000). It must name a loopback host: the server refuses others.

    Returns
    -------
    DashboardWidget
        An anywidget; display it (last expression of a cell, or ``display(w)``).
        ``w.selection`` is a sorted int64 NumPy array of ids; ``w.server`` the server.

    Raises
    ------
    DependencyMissingError
        anywidget is not installed (``pip install 'reprdynamics[notebook]'``).
    RunNotFoundError
        ``run`` names no run.
    InvalidParameterError, UnknownSampleError
        A parameter is invalid (``selection`` as in :attr:`DashboardWidget.selection`).
    """
    require("anywidget", "notebook", "The notebook widget (reprdynamics.widget)")
    from reprdynamics.widget._anywidget import dashboard_widget_class

    DashboardWidget = dashboard_widget_class()
    if not isinstance(run, Run):
        if not isinstance(run, str | os.PathLike):
            raise InvalidParameterError(
                "The 'run' parameter of widget must be a Run (reprdynamics.open_run) or a "
                f"run's path or URL. Got {type(run).__name__} instead.",
                parameter="run",
            )
        run = open_run(run)
    if height is not None:
        height = parse_int(height, "height", "widget", low=120, high=6000)
    theme = check(theme, OrNone(Options(_THEMES)), "theme", "widget")
    port = _check_port(port)
    address = _check_url(url)
    server = dashboard_server(run, port=port)
    return DashboardWidget(
        run,
        server,
        url=address or server.url,
        run_name=_served_name(server),
        height=height,
        theme=theme,
        selection=selection,
    )


def _served_name(server: DashboardServer) -> str:
    """The run's name on its server (the server serves it alone: its workspace's one run)."""
    if server.target is None:
        from reprdynamics.sample import sample_run_path

        return sample_run_path().name
    return server.target.rstrip("/").rsplit("/", 1)[-1] or "run"


def __getattr__(name: str) -> Any:
    if name == "DashboardWidget":
        require("anywidget", "notebook", "The notebook widget (reprdynamics.widget)")
        from reprdynamics.widget._anywidget import dashboard_widget_class

        return dashboard_widget_class()
    raise AttributeError(f"module 'reprdynamics.widget' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`widget`.

    ``reprdynamics.widget`` names the function through the package's lazy table, but an
    ``import reprdynamics.widget`` (or ``from reprdynamics.widget import ...``) done first
    makes the package attribute this module; calling it then still makes a widget.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> DashboardWidget:
        return widget(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
