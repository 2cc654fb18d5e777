"""The (attack, ε) cell engine: accuracy of a classifier under each attack at each budget.

One function, `sweep_cells`, evaluates cells for every scenario: white-box (craft on the
evaluated classifier), transfer (craft on a source model, evaluate the target), non-adaptive
defense evaluation (craft on the undefended classifier, evaluate the defended one) and
adaptive evaluation (craft on the defended classifier).

Each cell's record (`artgenre.attacks.records.make_cell`) is defined in `artgenre.attacks.records`.

Every cell is seeded from (seed, attack, ε) alone, so a cell's value does not depend on which
other cells ran before it (a cascade attack's, `artgenre.attacks.cascade`, depends on the
earlier attacks' cells at its ε, themselves seeded so), and a resumed sweep gives the same
numbers as an uninterrupted one.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from artgenre import pass_counts
from artgenre.attacks.cascade import cascade_after, ensemble, is_cascade, run_order
from artgenre.attacks.records import DEFAULT_NORM, make_cell
from artgenre.attacks.spec import attack_spec
from artgenre.eps import eps_key, parse_eps, same_eps
from artgenre.errors import ParameterError, check_int
from artgenre.runtime import log, progress as progress_bar, torch_threads
from artgenre.threats import DEFAULT_THREAT, threat_model



def seed_cell(seed: int, attack: str, eps: float) -> None:
    """Seed NumPy and torch for the cell (seed, attack, ε), independently of other cells."""
    import torch

    mixed = (int(seed) * 1_000_003 + zlib.crc32(f"{attack}|{eps:.12g}".encode())) % 2**32
    np.random.seed(mixed)
    torch.manual_seed(mixed)


def find_cell(cells: Iterable[dict] | None, attack: str, eps: float, adaptive: bool,
              threat: str = DEFAULT_THREAT, norm: str = DEFAULT_NORM) -> dict | None:
    """The cell of (attack, ε, adaptive, threat, norm) in ``cells`` (ε by `same_eps`), else None.
    Cells written before threat models (or norms) existed count as ``spectrogram`` (``inf``)."""
    for c in cells or ():
        if (c.get("attack") == attack and same_eps(c.get("eps", -1), eps)
                and bool(c.get("adaptive")) == bool(adaptive) and c.get("threat", DEFAULT_THREAT) == threat
                and c.get("norm", DEFAULT_NORM) == norm):
            return c
    return None


def generate_chunks(attack, x: np.ndarray, y: np.ndarray, chunk: int, advance: Callable[[int], None],
                    workers: int = 1) -> np.ndarray:
    """``attack.generate`` over ``chunk``-sized slices (to move a progress bar within a cell).

    With ``workers`` > 1 that many slices run at a time in threads, each on one torch thread
    (`artgenre.runtime.torch_threads`), for attacks whose slices are independent and
    deterministic (`AttackSpec.sample_parallel`). One-sample passes leave much of a second core
    idle (DeepFool on a 2-core CPU: 1.4× / 1.6× faster this way for the CNN / ResNet18). The
    examples are those of one call after another on one torch thread, bit for bit (tested); on
    every thread they differ only where a kernel rounds differently with the thread count (not
    at all for the quick CNN and ResNet18 in ``benchmarks/deepfool_gradients.py``; by 2e-7 for
    the tests' tiny net). ``advance`` is called from this thread only.
    """
    out = np.empty_like(x)
    starts = range(0, len(x), chunk)

    def one(i: int) -> int:
        out[i : i + chunk] = attack.generate(x[i : i + chunk], y[i : i + chunk])
        return min(chunk, len(x) - i)

    if workers <= 1 or len(starts) <= 1:
        for i in starts:
            advance(one(i))
        return out
    from concurrent.futures import ThreadPoolExecutor

    with attack.weights_frozen(), torch_threads(1):
        pool = ThreadPoolExecutor(max_workers=min(int(workers), len(starts)), thread_name_prefix="artgenre-craft")
        try:
            for future in [pool.submit(one, i) for i in starts]:
                advance(future.result())
        finally:
            # On an error or an interrupt, samples not started yet are dropped, not crafted.
            pool.shutdown(wait=True, cancel_futures=True)
    return out


def sweep_cells(
    *,
    craft_classifier,
    eval_classifier=None,
    split,
    attacks: Sequence[str],
    eps: Sequence[float],
    batch_size: int,
    seed: int,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    on_adversarial: Callable[[str, float, np.ndarray], None] | None = None,
    existing_cells: Iterable[dict] | None = None,
    save: Callable[[list], None] | None = None,
    adaptive: bool = False,
    clean_logits: np.ndarray | None = None,
    progress: bool = True,
    threat: str = DEFAULT_THREAT,
    norm: str = DEFAULT_NORM,
    store=None,
    share: Iterable[tuple[str, float]] = (),
) -> list[dict]:
    """Evaluate every (attack, ε) cell: craft on one classifier, evaluate on another.

    Parameters
    ----------
    craft_classifier : ART classifier
        The attacks' gradients come from it (the source model for transfer, the undefended
        model for non-adaptive and the defended one for adaptive defense evaluation).
    eval_classifier : ART classifier, optional
        Classifier whose accuracy is reported; default ``craft_classifier`` (white-box).
    split : artgenre.data.Split
        Its perturbed array (``threat``'s `inputs`, for ``spectrogram`` ``x`` of shape
        (N, C, H, W) float32 in [0, 1]), ``y`` (N,) int labels, ``track`` (N,) ids.
    attacks : sequence of str
        ε-bounded attack names (`ATTACKS` keys or ``art:<Class>``). Minimal-norm attacks
        (``deepfool``) are rejected: run `artgenre.attacks.minimal.minimal_norm_block`.
        Cascade attacks (``apgd-ce``, ``apgd-dlr``) run after the others, each at an ε only on
        the segments they left correct (`artgenre.attacks.cascade`; its cell records
        ``cascade``).
    eps : sequence of float
        Budgets, each finite in [0, 1] (`artgenre.eps.parse_eps`).
    batch_size : int
        Attack and prediction batch size (>= 1).
    seed : int
        Each cell is seeded from (seed, attack, ε).
    params : mapping attack -> dict, optional
        Attack parameters (see `artgenre.attacks.attack_params`).
    on_adversarial : callable, optional
        ``on_adversarial(attack, eps, x_adv)`` after each computed cell (not for resumed ones);
        ``x_adv`` has the shape of the perturbed array (``x_adv is x`` at ε = 0).
    existing_cells : iterable of dict, optional
        Finished cells (e.g. from an interrupted run); a requested (attack, ε, adaptive,
        threat) found here is reused, not recomputed.
    save : callable, optional
        ``save(cells)`` after each computed cell with the requested cells finished so far.
    adaptive : bool
        Stored in each cell (True when the attack is crafted through the defense).
    clean_logits : np.ndarray, shape (N, n_classes), optional
        ``eval_classifier``'s logits on the inputs if already computed.
    progress : bool
        Show a progress bar (segments attacked over all cells).
    threat : str
        `artgenre.threats.THREAT_MODELS` key; recorded in each cell. Crafting and prediction
        go through it (`ThreatModel.craft` / ``predict``, per reference group for
        ``waveform``) and it adds its own fields (`ThreatModel.measure`).
    norm : str
        Budget of ``eps``: ``"inf"`` (L∞) or ``"l2rel"`` (‖δ‖ ≤ ε‖x‖, waveform); recorded in
        each cell and part of its key.
    store : artgenre.attacks.store.AdversarialStore, optional
        Each cell's adversarial set is read from it when another run of the grid stored the same
        one (``craft_classifier`` plain, see `artgenre.attacks.store`; the cell then records
        ``reused_adversarial: true`` and the seconds of its evaluation only). A crafted cell
        records ``passes``: the rows its attack ran through ``craft_classifier``
        (`artgenre.pass_counts`; absent for a classifier that does not count them).
    share : iterable of (attack, ε)
        Cells whose adversarial sets are written to ``store`` for other runs to read.

    Returns
    -------
    list of dict
        The requested cells in (attack, ε) order.

    Raises
    ------
    ParameterError
        Bad ε, unknown attack or parameter, a minimal-norm attack, bad batch size.
    DataError
        Malformed or empty split.
    """
    eval_classifier = craft_classifier if eval_classifier is None else eval_classifier
    eps_list = list(parse_eps(eps))
    batch_size = check_int("batch_size", batch_size, 1)
    attacks = list(attacks)
    for a in attacks:
        if not attack_spec(a).eps_bounded:
            raise ParameterError(
                f"attack {a!r} finds minimal perturbations and has no ε budget; run it with "
                "minimal_norm_block (run_attack does) instead of sweep_cells"
            )
    params = {a: dict((params or {}).get(a, {})) for a in attacks}
    tm = threat_model(threat)
    x, y, track = tm.arrays(split)
    n_classes = int(eval_classifier.nb_classes)
    if clean_logits is None:
        clean_logits = tm.predict(eval_classifier, x, split=split, batch_size=batch_size)
    clean_pred = np.asarray(clean_logits).argmax(axis=1)
    existing = list(existing_cells or ())

    todo = [(a, e) for a in attacks for e in eps_list if find_cell(existing, a, e, adaptive, threat, norm) is None]
    done: dict[tuple[str, str], dict] = {}
    # Chunks of a few batches keep the progress bar moving within a cell.
    chunk = 8 * batch_size
    digest = None
    if store is not None and todo:
        from artgenre.attacks.store import classifier_digest

        digest = classifier_digest(craft_classifier)
    shared = {(a, eps_key(e)) for a, e in share}
    # Adversarial sets a later cascade attack builds on (`artgenre.attacks.cascade`).
    sets: dict[tuple[str, str], np.ndarray] = {}
    keep_sets = any(is_cascade(a) and e > 0 for a, e in todo)
    white_box = eval_classifier is craft_classifier
    if keep_sets:  # a cascade attack judges what is left by the crafting classifier, as ART does
        craft_clean_wrong = clean_pred != y if white_box else tm.predict(
            craft_classifier, x, split=split, batch_size=batch_size).argmax(axis=1) != y

    def craft_rows(a: str, e: float, rows: np.ndarray | None, advance: Callable[[int], None]):
        """(x_adv, read from the store?, passes) of attack ``a`` at ``e`` on ``rows`` (None: all)."""
        xs, ys, sp = (x, y, split) if rows is None else (x[rows], y[rows], split.take(rows))
        key = None if digest is None else store.key(
            digest=digest, attack=a, eps=e, norm=norm, params=params[a], seed=seed, chunk=chunk,
            threat=threat, x=xs, y=ys, split=sp)
        got = None if key is None else store.get(key, like=xs)
        if got is not None:
            log.info("%s ε=%g: adversarial set read from %s", a, e, store.path(key))
            advance(len(xs))
            return got, True, None
        counted = pass_counts.snapshot(craft_classifier)
        got = tm.craft(attack=a, classifier=craft_classifier, x=xs, y=ys, split=sp, norm=norm, eps=e,
                       batch_size=batch_size, params=params[a], chunk=chunk, advance=advance)
        passes = pass_counts.since(counted, craft_classifier)
        if key is not None and (a, eps_key(e)) in shared:
            store.put(key, got)
        return got, False, passes

    def earlier_set(b: str, e: float) -> np.ndarray:
        if (b, eps_key(e)) not in sets:  # a resumed cell: crafted again, seeded as it was
            seed_cell(seed, b, e)
            sets[(b, eps_key(e))] = craft_rows(b, e, None, lambda k: None)[0]
        return sets[(b, eps_key(e))]

    def craft_wrong(b: str, e: float, xb: np.ndarray) -> np.ndarray:
        pred = (done.get((b, eps_key(e))) or {}).get("pred")
        if white_box and isinstance(pred, list) and len(pred) == len(y):
            return np.asarray(pred) != y  # the cell's predictions are the crafter's
        return tm.predict(craft_classifier, xb, split=split, batch_size=batch_size).argmax(axis=1) != y

    def cascade_cell(a: str, e: float, advance: Callable[[int], None]):
        after = cascade_after(attacks, a)
        sets_after = [earlier_set(b, e) for b in after]
        base, attacked = ensemble(x=x, clean_wrong=craft_clean_wrong,
                                  earlier=[(xb, craft_wrong(b, e, xb)) for b, xb in zip(after, sets_after)])
        pos = np.flatnonzero(attacked)
        advance(len(x) - len(pos))
        seed_cell(seed, a, e)
        reused, passes = False, None
        if len(pos):
            sub, reused, passes = craft_rows(a, e, pos, advance)
            base[pos] = sub
        log.info("%s ε=%g: attacked the %d of %d segments %s left correct", a, e, len(pos), len(x), "+".join(after))
        return base, reused, passes, {"after": after, "attacked": attacked.astype(int).tolist()}

    with progress_bar(disable=not progress) as bar:
        task = bar.add_task("attack sweep", total=len(todo) * len(x))
        for a in run_order(attacks):
            for e in eps_list:
                old = find_cell(existing, a, e, adaptive, threat, norm)
                if old is not None:
                    done[(a, eps_key(e))] = old
                    continue
                bar.update(task, description=f"{a} ε={e:g}" + (" (adaptive)" if adaptive else ""))
                seed_cell(seed, a, e)
                t0 = time.perf_counter()
                reused, passes, cascade = False, None, None
                advance = lambda k: bar.advance(task, k)  # noqa: E731
                if e == 0:
                    x_adv, logits = x, clean_logits
                    advance(len(x))
                else:
                    if is_cascade(a):
                        x_adv, reused, passes, cascade = cascade_cell(a, e, advance)
                    else:
                        x_adv, reused, passes = craft_rows(a, e, None, advance)
                    logits = tm.predict(eval_classifier, x_adv, split=split, batch_size=batch_size)
                seconds = time.perf_counter() - t0
                if keep_sets:
                    sets[(a, eps_key(e))] = x_adv
                extra = tm.measure(norm=norm, eps=e, x=x, x_adv=x_adv, y=y, split=split,
                                   classifier=eval_classifier, clean_pred=clean_pred, batch_size=batch_size)
                if reused:
                    extra = {**extra, "reused_adversarial": True}
                if passes is not None:
                    extra = {**extra, "passes": passes}
                if cascade is not None:
                    extra = {**extra, "cascade": cascade}
                cell = make_cell(
                    attack=a, eps=e, adaptive=adaptive, x=x, x_adv=x_adv, logits=logits,
                    clean_pred=clean_pred, y=y, track=track, n_classes=n_classes,
                    seconds=seconds, threat=threat, norm=norm, extra=extra,
                )
                done[(a, eps_key(e))] = cell
                log.info(
                    "%s ε=%g%s: accuracy %.1f%% (success %.1f%%) in %.1f s", a, e,
                    " (adaptive)" if adaptive else "", 100 * cell["segment_accuracy"]["value"],
                    100 * (cell["success_rate"]["value"] if cell["success_rate"]["n"] else 0.0), cell["seconds"],
                )
                if on_adversarial is not None:
                    on_adversarial(a, e, x_adv)
                if save is not None:
                    save(_in_order(done, attacks, eps_list))
    return _in_order(done, attacks, eps_list)


def _in_order(done: Mapping[tuple[str, str], dict], attacks: Sequence[str], eps_list: Sequence[float]) -> list[dict]:
    return [done[(a, eps_key(e))] for a in attacks for e in eps_list if (a, eps_key(e)) in done]
