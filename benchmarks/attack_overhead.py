"""Overhead of running PGD through ART (``ATTACKS["pgd"]``) versus a plain PyTorch PGD loop.

Both sides attack the same model (the real ``cnn`` from `build_model`, random init), on the same
batch of random inputs, with the same L∞ PGD: one uniform random start in the ε ball (drawn
from NumPy's global generator with the same seed, exactly as ART's ``random_sphere`` does), k
steps of ``eps_step = ε/4`` along the gradient sign, clipping to [0, 1] after each step and
projection onto the ε ball around the clean input. The plain loop asks autograd for the input
gradient only. Runs alternate (plain, ART, plain, ART, ...) after a warm-up so that load from
other processes hits both sides alike; the medians of wall time and of process CPU time and
their ratios are printed, with the largest difference between the two sides' adversarial
examples as a correctness check.

Usage::

    python benchmarks/attack_overhead.py [--batch 32] [--steps 10] [--eps 0.01] [--repeats 5]
                                         [--device auto] [--size 128] [--profile]

``--profile`` adds a cProfile listing of one ART run (where any overhead comes from).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time

import numpy as np
import torch

from artgenre.art_adapter import as_art_classifier
from artgenre.attacks import ATTACKS
from artgenre.models import build_model
from artgenre.runtime import resolve_device


def plain_pgd(*, model, x: np.ndarray, y: np.ndarray, eps: float, eps_step: float, steps: int,
              device) -> np.ndarray:
    """Reference L∞ PGD in plain PyTorch (random start drawn like ART's ``random_sphere``).

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode, returning logits.
    x : np.ndarray, shape (N, C, H, W), float32 in [0, 1]
    y : np.ndarray, shape (N,), int labels
    eps, eps_step : float
        Budget and step size.
    steps : int
        Gradient steps.
    device : torch.device

    Returns
    -------
    np.ndarray
        Adversarial examples, float32, shape of ``x``.
    """
    x0 = torch.from_numpy(x).to(device)
    labels = torch.from_numpy(y).to(device)
    start = np.random.uniform(-eps, eps, (len(x), int(np.prod(x.shape[1:])))).reshape(x.shape).astype(np.float32)
    x_adv = (x0 + torch.from_numpy(start).to(device)).clamp_(0.0, 1.0)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = loss_fn(model(x_adv), labels)
        (grad,) = torch.autograd.grad(loss, x_adv)
        with torch.no_grad():
            x_adv = (x_adv + eps_step * grad.sign()).clamp_(0.0, 1.0)
            x_adv = x0 + (x_adv - x0).clamp_(-eps, eps)
    return x_adv.detach().cpu().numpy()


def art_pgd(*, classifier, x: np.ndarray, y: np.ndarray, eps: float, steps: int, batch_size: int) -> np.ndarray:
    """The same PGD through artgenre's registry (ART's PyTorch-native PGD)."""
    attack = ATTACKS["pgd"](classifier, eps=eps, batch_size=batch_size, steps=steps)
    return attack.generate(x, y)


def _timed(fn, seed: int) -> tuple[float, float, np.ndarray]:
    """(wall seconds, CPU seconds of this process, output) of ``fn()`` after seeding NumPy."""
    np.random.seed(seed)
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=128, help="input side (128 for real features)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile one ART run")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = build_model(name="cnn", input_size=args.size)
    classifier = as_art_classifier(model, device=args.device, input_shape=(1, args.size, args.size))
    model.eval()
    rng = np.random.default_rng(args.seed)
    x = rng.random((args.batch, 1, args.size, args.size), dtype=np.float32)
    y = rng.integers(0, 10, args.batch).astype(np.int64)
    eps_step = args.eps / 4

    run_plain = lambda: plain_pgd(model=model, x=x, y=y, eps=args.eps, eps_step=eps_step,  # noqa: E731
                                  steps=args.steps, device=device)
    run_art = lambda: art_pgd(classifier=classifier, x=x, y=y, eps=args.eps, steps=args.steps,  # noqa: E731
                              batch_size=args.batch)

    # Warm-up (allocator, lazy imports), then alternate the two sides.
    _, _, ref = _timed(run_plain, args.seed)
    _, _, out = _timed(run_art, args.seed)
    plain_t, art_t, plain_c, art_c = [], [], [], []
    for _ in range(args.repeats):
        t, c, ref = _timed(run_plain, args.seed)
        plain_t.append(t)
        plain_c.append(c)
        t, c, out = _timed(run_art, args.seed)
        art_t.append(t)
        art_c.append(c)

    p, a = statistics.median(plain_t), statistics.median(art_t)
    pc, ac = statistics.median(plain_c), statistics.median(art_c)
    paired = statistics.median(at / pt for at, pt in zip(art_t, plain_t))
    diff = float(np.abs(out - ref).max())
    same = float(np.mean(np.isclose(out, ref, atol=1e-6)))
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}, "
          f"{args.size}x{args.size}, PGD-{args.steps}, eps {args.eps:g}, eps_step {eps_step:g}, "
          f"random start, {args.repeats} repeats")
    print(f"plain PyTorch PGD : median {p:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in plain_t)})")
    print(f"artgenre/ART PGD  : median {a:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in art_t)})")
    print(f"ratio ART / plain : {a / p:.3f} of wall-time medians (target <= 1.05); "
          f"median of paired ratios {paired:.3f}")
    print(f"CPU time (process): plain {pc:.3f} s, ART {ac:.3f} s, ratio {ac / pc:.3f} "
          "(less sensitive to other load on a shared machine)")
    print(f"outputs: max |difference| {diff:.2e}, {100 * same:.2f}% of values equal within 1e-6")
    if args.profile:
        prof = cProfile.Profile()
        np.random.seed(args.seed)
        prof.enable()
        run_art()
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
        print(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
