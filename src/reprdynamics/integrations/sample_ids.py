"""Sample ids carried through a ``DataLoader`` beside a batch, for models that do not take them.

The Transformers callback records the training pass of a model whose forward knows nothing
of sample ids, fed by a Trainer that drops every dataset column the forward does not take.
So the ids travel on their own: :class:`TaggedFetch` tags each example the dataloader
fetches with its row, :class:`CollateWithIds` takes the tags off before the data collator
runs and adds them to the batch as one tensor under :data:`ID_KEY`, and the callback's
forward pre-hook takes that off again before the forward runs. :class:`TaggedDataset` does
the tagging for a probe set; :func:`shard_real_rows` tells which rows of a process are
accelerate's repeats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from reprdynamics.errors import RecordingError
from reprdynamics.integrations.torch import torch

__all__ = [
    "ID_KEY",
    "CollateWithIds",
    "TaggedDataset",
    "TaggedFetch",
    "data_loader",
    "shard_real_rows",
]

# The key under which a sample's id travels from the dataset through the collator to the
# model's forward, where it is taken off again; no dataset or model uses it.
ID_KEY = "__reprdynamics_ids__"


# ---------------------------------------------------------------------------- the ids
class TaggedFetch:
    """A dataset's ``__getitems__`` that tags each example with its sample id.

    Set as an attribute of the training dataset, where a ``DataLoader`` fetches batches
    from (``dataset.__getitems__(indices)`` when it exists, else ``dataset[i]``): the id of
    an example is its row in the dataset, or its own ``ids_key`` field if it has one. A
    plain class, so a ``DataLoader`` with workers can take it along.
    """

    def __init__(self, dataset: Any, ids_key: str) -> None:
        self.dataset = dataset
        self.fetch = getattr(dataset, "__getitems__", None)
        self.ids_key = ids_key

    def __call__(self, indices: Sequence[int]) -> list[Any]:
        if self.fetch is not None:
            items = self.fetch(indices)
        else:
            items = [self.dataset[i] for i in indices]
        tagged = []
        for position, item in zip(indices, items, strict=True):
            if not isinstance(item, Mapping):
                raise RecordingError(
                    f"The training dataset's examples are {type(item).__name__}s, not dicts, so "
                    f"the Transformers callback cannot carry their ids to the model. Use dict "
                    f"examples (what the Trainer's collators expect) or record a probe pass "
                    f"(probe=...)."
                )
            own = item.get(self.ids_key)
            tagged.append({**item, ID_KEY: int(position) if own is None else own})
        return tagged

    def restore(self) -> None:
        """Take the attribute off the dataset again."""
        if self.dataset.__dict__.get("__getitems__") is self:
            del self.dataset.__dict__["__getitems__"]


class CollateWithIds:
    """A data collator that collates the examples without their ids and adds the ids back.

    The ids are taken off every example before the wrapped collator runs (it never sees
    them) and added to the batch as one tensor under :data:`ID_KEY`. ``keep``: when given,
    only these keys of the examples reach the wrapped collator (what the probe pass uses to
    pass the model only what its forward takes).
    """

    def __init__(self, collate: Any, ids_key: str, keep: frozenset[str] | None = None) -> None:
        self.collate = collate
        self.ids_key = ids_key
        self.keep = keep

    def __call__(self, features: Sequence[Any]) -> Any:
        ids: list[Any] = []
        stripped = []
        for feature in features:
            if isinstance(feature, Mapping) and ID_KEY in feature:
                feature = dict(feature)
                ids.append(feature.pop(ID_KEY))
                feature.pop(self.ids_key, None)
                if self.keep is not None:
                    feature = {k: v for k, v in feature.items() if k in self.keep}
            stripped.append(feature)
        batch = self.collate(stripped)
        if ids and len(ids) == len(features) and isinstance(batch, MutableMapping):
            batch[ID_KEY] = _id_tensor(ids, self.ids_key)
        return batch


def _id_tensor(ids: list[Any], ids_key: str) -> Any:
    try:
        values = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise RecordingError(
            f"The dataset's {ids_key!r} field holds {type(ids[0]).__name__} values such as "
            f"{ids[0]!r}, not sample ids 0..N-1. Rename that field, or pass ids_key=... naming "
            f"a field of whole-number ids."
        ) from None
    return torch.tensor(values, dtype=torch.int64)


def data_loader(loader: Any) -> Any:
    """The ``torch.utils.data.DataLoader`` inside accelerate's wrapper (or ``loader``)."""
    return loader.__dict__.get("base_dataloader", loader)


def shard_real_rows(loader: Any, n_samples: int) -> int | None:
    """This process's real examples per epoch when accelerate pads the last batches.

    With several processes, accelerate's ``BatchSamplerShard`` deals the batches out in
    turn and, to give every process as many, fills the last ones with examples from the
    start of the epoch: recorded, those would be ids twice in one snapshot. Batch ``i`` goes
    to process ``i mod P``; the real rows of process ``p`` are the sizes of its batches
    among the ``ceil(N / B)`` real ones. None when nothing is padded.
    """
    shard = getattr(data_loader(loader), "batch_sampler", None)
    inner = getattr(shard, "batch_sampler", None)
    processes = getattr(shard, "num_processes", 1)
    if inner is None or not isinstance(processes, int) or processes <= 1:
        return None
    if getattr(shard, "split_batches", False) or getattr(inner, "drop_last", False):
        return None  # split batches, or dropped tail: nothing is repeated
    size, rank = int(inner.batch_size), int(shard.process_index)
    batches = math.ceil(n_samples / size)
    return sum(min(size, n_samples - i * size) for i in range(rank, batches, processes))


class TaggedDataset(torch.utils.data.Dataset):
    """A probe dataset whose examples carry their row as their id."""

    def __init__(self, dataset: Any, ids_key: str) -> None:
        self.dataset = dataset
        self.ids_key = ids_key

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        item = self.dataset[i]
        if not isinstance(item, Mapping):
            raise RecordingError(
                f"The probe dataset's examples are {type(item).__name__}s; the Transformers "
                f"callback needs dicts of the model's keyword inputs."
            )
        return {**item, ID_KEY: item.get(self.ids_key, i)}
