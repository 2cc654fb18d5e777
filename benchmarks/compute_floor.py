"""Compute floor of the default run: how close each pipeline stage gets to pure model compute.

1. Measures, for each model (128x128, batch ``--batch``, this machine), the per-sample time of a
   forward pass (eval, no grad), a forward+backward pass for the input gradient (eval, frozen
   weights: what every attack step costs) and a training step (train mode, forward, backward,
   Adam update).
2. Counts the passes each stage of a finished run needed, from the run's own result files
   (``<results>/pipeline.json`` for the stages and their seconds; ``train-*.json`` for epochs;
   ``attack-*.json`` / ``defense-*.json`` for the cells, samples and attack settings) and the
   split sizes of its dataset (read back from the feature cache). The run's config is compared
   with `PipelineConfig`'s defaults and any difference is printed.
3. Prints ``floor = Σ passes × per-sample time`` and ``pipeline seconds / floor`` per stage and
   in all. Everything that is not a counted pass (data loading, feature extraction, numpy work
   inside ART, evaluation bookkeeping, report plots, Python overhead) is the rest above 1.

Pass model (per sample): training = epochs × (n_train train steps + n_val forwards) + final
val/test forwards; ``fgsm`` 1 gradient, ``pgd`` ``steps × (1 + restarts)``, ``apgd-*``
``max_iter × nb_random_init``, ``detector-pgd`` ``steps × restarts`` gradients (+1 forward to
evaluate each cell) — but where a cell records the rows it ran (``passes``, counted by
`artgenre.pass_counts`: gradient, class-gradient and forward rows) those are used instead,
which is exact for attacks that stop early (the detector-aware attack stops stepping a sample
once it is accepted and misclassified); the strength check's stronger PGD on the segments each of its cells
attacked, ``noise`` and the clean pass 1 forward; ``deepfool`` the class-gradient rows (one
gradient each) and forward rows the run counted (its block's ``passes``; for result files
without them ``max_iter × nb_grads`` gradients and ``max_iter + 1`` forwards per clean-correct
sample, an upper bound: samples that flip early stop sooner; on a CPU it runs at batch 1,
whose passes cost more than the floor's batch-32 ones); the waveform front end, the WAV round trips and the Griffin-Lim check are not counted
(their seconds are left in the rest). Adversarial training per epoch:
``ratio × n_train × inner_steps`` gradients + ``n_train`` train steps + ``n_val`` forwards. The
detector multiplies every pass by ``1 + number of squeezers`` (each input is also classified
squeezed) and calibrates on the validation split.

Usage::

    python benchmarks/compute_floor.py [results] [--batch 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from artgenre.art_adapter import as_art_classifier
from artgenre.models import build_model


def per_sample_times(*, name: str, batch: int, repeats: int) -> dict:
    """Median seconds per sample of ``forward``, ``grad`` (input gradient) and ``train`` steps."""
    torch.manual_seed(0)
    model = build_model(name=name)
    clf = as_art_classifier(model, device="cpu")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((batch, 1, 128, 128), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch))
    loss_fn = torch.nn.CrossEntropyLoss()

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    def grad():
        model.eval()
        xg = x.clone().requires_grad_(True)
        torch.autograd.grad(loss_fn(model(xg), y), xg)

    def train():
        model.train()
        clf.optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        clf.optimizer.step()

    out = {}
    for key, fn in (("forward", forward), ("grad", grad), ("train", train)):
        if key == "grad":
            for p in model.parameters():
                p.requires_grad_(False)
        fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[key] = statistics.median(ts) / batch
        for p in model.parameters():
            p.requires_grad_(True)
    return out


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def split_sizes(train_result: dict) -> dict:
    """``{"train", "val", "test"}`` segment counts of the run's dataset (from the feature cache)."""
    from artgenre.data import DataConfig, load_dataset

    data = load_dataset(**DataConfig.from_dict(train_result["config"]["data"]).loader_kwargs(), progress=False)
    return {"train": len(data.train.y), "val": len(data.val.y), "test": len(data.test.y)}


def _params(result: dict) -> dict:
    """Attack → parameters of a result: attack results store a mapping, defense results triples."""
    cfg = result.get("config") or {}
    raw = cfg.get("params") if "params" in cfg else cfg.get("attack_params")
    if isinstance(raw, dict):
        return {a: dict(v) for a, v in raw.items() if isinstance(v, dict)}
    out: dict = {}
    for t in raw or []:
        if isinstance(t, (list, tuple)) and len(t) == 3:
            out.setdefault(str(t[0]), {})[str(t[1])] = t[2]
    return out


def _grads_per_sample(attack: str, params: dict) -> int:
    """Input gradients one attack takes per sample (its steps times its starts)."""
    from artgenre.attacks import PGD_STEPS
    from artgenre.attacks.strong import APGD_STEPS

    p = params.get(attack, {})
    if attack == "fgsm":
        return 1
    if attack == "pgd":
        return int(p.get("steps", PGD_STEPS)) * (1 + int(p.get("restarts", 0)))
    if attack.startswith("apgd"):
        return int(p.get("max_iter", APGD_STEPS)) * int(p.get("nb_random_init", 1))
    if attack == "detector-pgd":
        return int(p.get("steps", 20)) * int(p.get("restarts", 1))
    return 0  # noise; deepfool: `_deepfool_passes`


def _cell_passes(cells, *, n: int, params: dict, mult: int = 1, grad_mult: int = 1) -> dict:
    # ``mult``: views classified per input (the detector scores raw and squeezed); ``grad_mult``:
    # views differentiated per step (the detector-aware attack goes through every squeezer).
    grads = forwards = 0
    for c in cells:
        if float(c["eps"]) == 0.0:
            continue
        counted = c.get("passes")
        if isinstance(counted, dict):  # rows the run counted (`artgenre.pass_counts`)
            grads += (int(counted.get("gradient", 0)) + int(counted.get("class_gradient", 0))) * grad_mult
            forwards += int(counted.get("forward", 0))
        elif not c.get("reused_adversarial"):  # a set read from the store was crafted elsewhere
            grads += _grads_per_sample(c["attack"], params) * n * grad_mult
        forwards += n * mult
    return {"grad": grads, "forward": forwards + n * mult, "train": 0}


def _strength_passes(result: dict, mult: int = 1) -> dict:
    """The stronger-PGD cells of check (a): each attacks its own ``indices``."""
    block = result.get("strength") or {}
    per = _grads_per_sample("pgd", {"pgd": block.get("params") or {}})
    grads = forwards = 0
    for c in block.get("cells") or []:
        k = len(c.get("indices", block.get("indices") or []))
        counted = c.get("passes")
        grads += (int(counted.get("gradient", 0)) if isinstance(counted, dict) else per * k) * mult
        forwards += k * mult
    return {"grad": grads, "forward": forwards, "train": 0}


def _deepfool_passes(result: dict) -> dict:
    """DeepFool's passes: the rows the run counted (the block's ``passes``: class-gradient rows,
    each taken as one input gradient, and forward rows), else ``max_iter`` iterations per
    attacked (clean-correct) sample, each ``nb_grads`` input gradients and one forward pass (an
    upper bound: a sample that flips early stops, so the stage's ratio is then a lower bound)."""
    block = result.get("deepfool") or {}
    counted = block.get("passes")
    if isinstance(counted, dict):
        return {"grad": int(counted.get("class_gradient", 0)), "forward": int(counted.get("forward", 0)), "train": 0}
    k, it = int(block.get("n_correct") or 0), int(block.get("max_iter") or 0)
    return {"grad": k * it * int(block.get("nb_grads") or 0), "forward": k * (it + 1), "train": 0}


def _add(*parts: dict) -> dict:
    return {k: sum(p[k] for p in parts) for k in ("grad", "forward", "train")}


def stage_passes(*, stage: str, results: Path, sizes: dict) -> tuple[str | None, dict]:
    """(model, {"forward", "grad", "train": sample-passes}) of one pipeline stage."""
    words = stage.split()
    if words[0] == "train":
        r = _read(results / f"train-{words[1]}.json") or {}
        e = int(r.get("epochs_run", 0))
        return words[1], {"train": e * sizes["train"], "forward": (e + 1) * sizes["val"] + sizes["test"], "grad": 0}
    if words[0] == "attack":
        # "attack cnn" or "attack cnn waveform" (the front end's own cost is left in the rest).
        r = _read(results / f"attack-{'-'.join(words[1:3])}.json") or {}
        return words[1], _add(_cell_passes(r.get("cells", []), n=int(r.get("n_samples", 0)), params=_params(r)),
                              _strength_passes(r), _deepfool_passes(r))
    if words[0] == "transfer":
        src, dst = words[1].split("->")
        r = _read(results / f"attack-{dst}-from-{src}.json") or {}
        p = _cell_passes(r.get("cells", []), n=int(r.get("n_samples", 0)), params=_params(r))
        return src, p  # crafting on the source dominates; the target's forwards cost alike
    if words[0] == "defend":
        model, defense = words[1], words[2]
        r = _read(results / f"defense-{model}-{defense}.json") or {}
        n = int(r.get("n_samples", 0))
        mult = 1
        cfg = r.get("config") or {}
        if r.get("detector") is not None:
            from artgenre.defenses.squeeze import detector_squeezers

            mult = 1 + len(detector_squeezers(bit_depth=int(cfg.get("bit_depth") or 5),
                                              median=bool(cfg.get("median", True))))
        p = _add(_cell_passes(r.get("cells", []), n=n, params=_params(r), mult=mult),
                 _cell_passes(r.get("detector_cells") or [], n=n, params=_params(r), mult=mult, grad_mult=mult),
                 _strength_passes(r))
        if mult > 1:
            p["forward"] += mult * sizes["val"]
        t = r.get("training") or {}
        if t:
            inner = t.get("inner_attack") or {}
            e = int(t.get("epochs_run", 0))
            p["grad"] += int(e * float(t.get("ratio", 0)) * sizes["train"] * int(inner.get("steps", 1)))
            p["train"] += e * sizes["train"]
            p["forward"] += (e + 1) * sizes["val"] + sizes["test"]
        return model, p
    return None, {"forward": 0, "grad": 0, "train": 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results", help="folder of a finished `artgenre run`")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from artgenre.pipeline import PipelineConfig

    results = Path(args.results)
    run = _read(results / "pipeline.json")
    if not run or not run.get("stages"):
        print(f"{results / 'pipeline.json'} is missing or has no stages; run `artgenre run --out {results}` first")
        return 2
    defaults = dataclasses.asdict(PipelineConfig())
    differ = [k for k, v in defaults.items() if k != "out" and json.loads(json.dumps(v)) != run["config"].get(k)]
    print(f"run: {results} ({'finished' if run.get('finished') else 'NOT finished'}); config differs from "
          f"PipelineConfig defaults in: {', '.join(differ) or 'nothing'}")
    models = run["config"]["models"]
    times = {m: per_sample_times(name=m, batch=args.batch, repeats=args.repeats) for m in models}
    for m, t in times.items():
        print(f"{m}: ms/sample forward {1000 * t['forward']:.2f}, input gradient {1000 * t['grad']:.2f}, "
              f"train step {1000 * t['train']:.2f} (batch {args.batch})")
    train_file = next((results / f"train-{m}.json" for m in models if (results / f"train-{m}.json").exists()), None)
    sizes = split_sizes(_read(train_file)) if train_file else {"train": 0, "val": 0, "test": 0}
    print(f"segments: train {sizes['train']}, val {sizes['val']}, test {sizes['test']}")
    print(f"{'stage':<26}{'seconds':>9}{'floor s':>9}{'ratio':>8}   passes (forward / gradient / train step)")
    total_s = total_f = 0.0
    for st in run["stages"]:
        model, p = stage_passes(stage=st["stage"], results=results, sizes=sizes)
        t = times.get(model) if model else None
        floor = sum(p[k] * t[k] for k in ("forward", "grad", "train")) if t else 0.0
        total_s += float(st["seconds"])
        total_f += floor
        ratio = f"{st['seconds'] / floor:8.2f}" if floor > 0 else f"{'-':>8}"
        print(f"{st['stage']:<26}{st['seconds']:>9.1f}{floor:>9.1f}{ratio}   "
              f"{p['forward']} / {p['grad']} / {p['train']}")
    print(f"{'total':<26}{total_s:>9.1f}{total_f:>9.1f}{total_s / max(total_f, 1e-9):8.2f}   (goal <= 1.25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
