"""All-class gradients for DeepFool: artgenre's batched ``class_gradient`` versus ART's default.

ART's ``PyTorchClassifier.class_gradient(x)`` runs one forward pass and then one backward pass
per class (``retain_graph``); `artgenre.art_adapter.ArtGenreClassifier` takes all class
gradients from batched passes (see its docstring). Both sides wrap the same model (the real
``cnn`` and ``resnet18`` from `build_model` at 128x128, random init, eval mode). Printed per
model:

- ``class_gradient`` alone, at ``--batch`` samples (1 is what DeepFool uses on a CPU, see
  `artgenre.attacks.minimal`): median seconds per call of ART's path with frozen weights (as
  artgenre's attacks run it) and with trainable weights (ART used on its own), artgenre's path,
  and the speed-ups; calls alternate so that other load hits both sides alike;
- ART's ``DeepFool`` end to end on ``--samples`` random inputs, one sample per call, the two
  classifiers alternating: seconds and the largest difference between the two sides' adversarial examples
  (must be <= 1e-5).

Usage::

    python benchmarks/deepfool_gradients.py [--batch 1] [--repeats 3] [--samples 2]
                                            [--max-iter 50] [--models cnn resnet18] [--device auto]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from artgenre.art_adapter import as_art_classifier
from artgenre.models import build_model
from artgenre.runtime import resolve_device


def _reference(model, device):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 128, 128),
                             nb_classes=10, clip_values=(0.0, 1.0),
                             device_type="gpu" if device.type == "cuda" else "cpu")


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _set_trainable(model, flag: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(flag)


def bench_model(*, name: str, device, batch: int, repeats: int, samples: int, max_iter: int) -> dict:
    """Timings and the equality check for one model (see the module docstring)."""
    from art.attacks.evasion import DeepFool

    torch.manual_seed(0)
    model = build_model(name=name)
    fast = as_art_classifier(model, device=str(device))
    ref = _reference(model, device)
    model.eval()
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 128, 128), dtype=np.float32)

    arms = {
        "art_frozen": (ref, False),
        "art_trainable": (ref, True),
        "artgenre": (fast, False),
    }
    times: dict[str, list[float]] = {k: [] for k in arms}
    for k, (clf, trainable) in arms.items():  # warm-up
        _set_trainable(model, trainable)
        clf.class_gradient(x)
    for _ in range(repeats):
        for k, (clf, trainable) in arms.items():
            _set_trainable(model, trainable)
            times[k].append(_seconds(lambda: clf.class_gradient(x)))
    med = {k: statistics.median(v) for k, v in times.items()}

    _set_trainable(model, False)
    xs = rng.random((samples, 1, 128, 128), dtype=np.float32)
    out = {"art": np.empty_like(xs), "artgenre": np.empty_like(xs)}
    secs = {"art": 0.0, "artgenre": 0.0}
    attacks = {k: DeepFool(clf, max_iter=max_iter, epsilon=0.02, nb_grads=10, batch_size=1, verbose=False)
               for k, clf in (("art", ref), ("artgenre", fast))}
    for i in range(samples):  # alternate per sample, as above
        for k, attack in attacks.items():
            t0 = time.perf_counter()
            out[k][i:i + 1] = attack.generate(xs[i:i + 1])
            secs[k] += time.perf_counter() - t0
    _set_trainable(model, True)
    return {"cg": med, "deepfool": secs, "diff": float(np.abs(out["art"] - out["artgenre"]).max()),
            "moved": float(np.abs(out["art"] - xs).max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2, help="DeepFool end-to-end samples (0: skip)")
    parser.add_argument("--max-iter", type=int, default=50)
    parser.add_argument("--models", nargs="+", default=["cnn", "resnet18"])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, class_gradient batch {args.batch}, "
          f"{args.repeats} alternating repeats; DeepFool on {args.samples} samples, one per call")
    for name in args.models:
        r = bench_model(name=name, device=device, batch=args.batch, repeats=args.repeats,
                        samples=args.samples, max_iter=args.max_iter)
        cg = r["cg"]
        print(f"{name}: class_gradient s/call  ART frozen {cg['art_frozen']:.3f}  ART trainable "
              f"{cg['art_trainable']:.3f}  artgenre {cg['artgenre']:.3f}  speed-up "
              f"{cg['art_frozen'] / cg['artgenre']:.2f}x (vs frozen), "
              f"{cg['art_trainable'] / cg['artgenre']:.2f}x (vs trainable)")
        if args.samples:
            d = r["deepfool"]
            print(f"{name}: DeepFool end to end  ART {d['art']:.2f} s  artgenre {d['artgenre']:.2f} s  "
                  f"speed-up {d['art'] / d['artgenre']:.2f}x; max |x_adv difference| {r['diff']:.2e} "
                  f"(<= 1e-5: {'yes' if r['diff'] <= 1e-5 else 'NO'}), max |x_adv - x| {r['moved']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
