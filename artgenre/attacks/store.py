"""Adversarial sets shared between the runs of one grid, so that no run crafts what another did.

A transfer sweep crafts on the source model exactly what the source's own white-box sweep
crafted at the same (attack, ε), and the detector's non-adaptive pass crafts on the guarded
model exactly what that model's white-box sweep did. `AdversarialStore` keeps such sets in
``<out>/adversarial/<key>.npy``; the key is a digest of everything the set depends on:

- the craft classifier's weights, module classes and repr, input shape and clip range — only for a
  *plain* classifier (no ART pre- or postprocessing, no `CLASSIFIER_CONTEXT` such as a
  detector guard; others never use the store, since their settings are not all in the key);
- the attack, ε, norm, resolved parameters, cell seed and chunk size;
- the attacked inputs, labels and (waveform) reference levels, as bytes.

The writer is told which cells others will read (``share`` of `sweep_cells`), so the folder
holds only those; readers look up every cell. A stored file that does not load as a finite
float32 array of the inputs' shape is reported and recrafted, never used. The pipeline removes
the folder once every unit has finished.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from artgenre.runtime import log

#: Folder of the store inside a results folder.
STORE_DIR = "adversarial"


def classifier_digest(classifier) -> str | None:
    """Digest of what a plain classifier computes, or None if it is not plain (see above)."""
    import torch

    from artgenre.attacks.spec import CLASSIFIER_CONTEXT

    if any(hasattr(classifier, name) for name in CLASSIFIER_CONTEXT):
        return None
    if getattr(classifier, "preprocessing_operations", None) or getattr(classifier, "postprocessing_defences", None):
        return None
    model = getattr(classifier, "model", None)
    if model is None:
        return None
    h = hashlib.sha256()
    # The module tree's repr holds the layers' settings (and `InputDefences`' squeezers).
    h.update(json.dumps([[type(m).__module__ + "." + type(m).__qualname__ for m in model.modules()], repr(model),
                         list(classifier.input_shape), np.asarray(classifier.clip_values).tolist()]).encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # the bytes, whatever the dtype
    return h.hexdigest()


class AdversarialStore:
    """Adversarial sets under ``root`` (``<out>/adversarial``), by content key.

    Parameters
    ----------
    root : path
        The store's folder (created on the first write).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def key(self, *, digest: str, attack: str, eps: float, norm: str, params: dict, seed: int, chunk: int,
            threat: str, x: np.ndarray, y: np.ndarray, split) -> str:
        """The key of one adversarial set (``digest`` from `classifier_digest`)."""
        from artgenre.eps import eps_key
        from artgenre.runs import json_values

        h = hashlib.sha256(digest.encode())
        h.update(json.dumps([attack, eps_key(eps), norm, json_values(params), int(seed), int(chunk), threat],
                            sort_keys=True, default=str).encode())
        for a in (x, y, getattr(split, "audio_ref", None)):
            if a is not None:
                a = np.ascontiguousarray(a)
                h.update(f"{a.dtype}:{a.shape}".encode())
                h.update(a.tobytes())
        return h.hexdigest()[:40]

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npy"

    def get(self, key: str, *, like: np.ndarray) -> np.ndarray | None:
        """The stored set of ``key``, or None if there is none or it is unusable (reported)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            x_adv = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warning("ignoring stored adversarial set %s (unreadable: %s); crafting it again", path, exc)
            return None
        if x_adv.shape != np.shape(like) or x_adv.dtype != np.float32 or not np.isfinite(x_adv).all():
            log.warning("ignoring stored adversarial set %s (%s %s, expected finite float32 %s); crafting it again",
                        path, x_adv.dtype, x_adv.shape, np.shape(like))
            return None
        return x_adv

    def put(self, key: str, x_adv: np.ndarray) -> None:
        """Write the set of ``key`` (atomically)."""
        from artgenre.io import atomic_save_npy

        self.root.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(self.path(key), np.asarray(x_adv, dtype=np.float32))


__all__ = ["STORE_DIR", "AdversarialStore", "classifier_digest"]
