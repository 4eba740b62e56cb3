"""The fingerprint kinds in a real browser (issue #14): the dashboard takes their labels,
their order and which parameters they take from the run overview's ``fingerprint_specs``
(the server's registry of kinds, analysis/kinds.py), not from a table of its own.

One test reads the overview as the server sends it; the other changes it on its way to
the page (other labels, another order, a kind left out, one that takes neither k nor a
layer), so a front end that kept its own table would show what the overview does not say.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from browsing import Browse, Server

RUN = "/api/runs/sample_run"


def _options(page: Any) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        "#fp-kind option", "os => os.map(o => [o.value, o.textContent])"
    )


def _fingerprint_params(browse: Browse, kind: str) -> dict[str, list[str]]:
    """The query of the page's last fingerprint request for `kind`."""
    for url in reversed(browse.requests):
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        if parts.path == f"{RUN}/fingerprint" and query.get("kind") == [kind]:
            return query
    raise AssertionError(f"no fingerprint request for {kind}: {browse.requests}")


def _check_each_kind(browse: Browse, kinds: list[dict[str, Any]]) -> None:
    """Each kind: k, the neighbour search and the layer are enabled exactly as its entry
    says, its request carries k and the layer exactly then, and the RQA names its label."""
    page = browse.page
    for spec in kinds:
        page.select_option("#fp-kind", spec["name"])
        browse.idle()
        name = spec["name"]
        assert page.locator("#fp-k").is_enabled() == spec["uses_k"], name
        assert page.locator("#fp-neighbours").is_enabled() == spec["uses_k"], name
        assert page.locator("#fp-layer").is_enabled() == spec["uses_layer"], name
        query = _fingerprint_params(browse, name)
        assert ("k" in query) == spec["uses_k"], (name, query)
        assert ("layer" in query) == spec["uses_layer"], (name, query)
        assert page.locator("#rqa-table caption").first.inner_text() == spec["label"]


def test_the_kind_select_is_the_overviews(browse: Browse, sample_server: Server) -> None:
    kinds = sample_server.get(RUN)["fingerprint_specs"]
    assert len(kinds) >= 2 and all(isinstance(k, dict) for k in kinds), kinds
    page = browse.open(sample_server)
    assert _options(page) == [[k["name"], k["label"]] for k in kinds]
    # Both ways round in the sample run: kinds with k and a layer, and kinds without.
    assert {k["uses_k"] for k in kinds} == {True, False}
    assert {k["uses_layer"] for k in kinds} == {True, False}
    _check_each_kind(browse, kinds)


def test_the_dashboard_follows_an_overview_it_does_not_know(
    browse: Browse, sample_server: Server
) -> None:
    sent = sample_server.get(RUN)["fingerprint_specs"]
    by_name = {k["name"]: k for k in sent}
    changed = [
        {**k, "label": f"kind {i}: {k['name']}"}
        for i, k in enumerate(reversed(sent))
        if k["name"] != "cka"
    ]
    # A kind that needed k and a layer now takes neither: the dashboard must not send them.
    for k in changed:
        if k["name"] == "neighbour-state":
            k.update(uses_k=False, uses_layer=False)

    def overview(route: Any) -> None:
        body = route.fetch().json()
        body["fingerprint_specs"] = changed
        body["fingerprint_kinds"] = [k["name"] for k in changed]
        route.fulfill(status=200, json=body)

    browse.page.route(re.compile(rf".*{RUN}(\?.*)?$"), overview)
    page = browse.open(sample_server)
    assert _options(page) == [[k["name"], k["label"]] for k in changed]
    assert "cka" in by_name and "cka" not in [v for v, _ in _options(page)]
    _check_each_kind(browse, changed)
