"""Automatic sanity checks of an evaluation (Carlini et al. 2019), for attack AND defense runs.

All comparisons allow for sampling error with one rule: a stronger attack's accuracy may not
exceed the weaker one's 95 % Wilson upper bound ("within the CI").

- ``pgd ≤ fgsm``: at each ε > 0, PGD accuracy ≤ FGSM's CI high.
- ``<attack>: accuracy non-increasing in ε``: each ε's accuracy ≤ the previous ε's CI high.
- ``pgd near chance at the largest ε``: PGD accuracy, or its CI low, ≤ 1/n_classes +
  `CHANCE_MARGIN` at the largest ε (an unbounded-enough attack must break an undefended
  model); skipped for transfer attacks and for defenses (``expect_chance=False``).
- ``noise weaker than fgsm``: at each ε > 0, FGSM accuracy ≤ noise's CI high.
- ``<attack>: perturbation within ε`` (attacks with ``budget_checked``): max L∞ ≤ ε + 1e-6.
- ``transfer weaker than white-box`` (``transfer=True``): white-box accuracy ≤ transfer's CI
  high for every common (attack, ε > 0); skipped (``passed: None``) without white-box cells.
- ``<attack>: adaptive not weaker than non-adaptive`` (when both groups exist): the attack
  crafted through the defense is at most the non-adaptive one's CI high.

Cells with ``adaptive`` true and false are checked as separate groups (names get
`` (adaptive)`` / `` (non-adaptive)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from artgenre.attacks.spec import attack_spec
from artgenre.errors import ArtGenreError, check_int
from artgenre.runtime import log

#: "Near chance" for the PGD check: accuracy at most 1/n_classes + this margin.
CHANCE_MARGIN = 0.1
#: Slack for the ε-budget check (float32 rounding of x + ε).
LINF_TOLERANCE = 1e-6


def _acc(cell: dict) -> dict:
    return cell["segment_accuracy"]


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _not_stronger(strong: dict, weak: dict) -> bool:
    return strong["value"] <= weak["ci_high"] + 1e-12


def _by_attack(cells: Iterable[dict]) -> dict[str, dict[float, dict]]:
    out: dict[str, dict[float, dict]] = {}
    for c in cells:
        out.setdefault(c["attack"], {})[float(c["eps"])] = c
    return out


def _check(name: str, passed: bool | None, detail: str) -> dict:
    return {"name": name, "passed": passed, "detail": detail}


def _budget_checked(attack: str) -> bool:
    try:
        return attack_spec(attack).budget_checked
    except ArtGenreError:  # a name from an old result file that no longer exists
        return False


def _compare(name: str, strong: dict[float, dict], weak: dict[float, dict], s_label: str, w_label: str,
             relation: str) -> dict:
    common = sorted(e for e in set(strong) & set(weak) if e > 0)
    if not common:
        return _check(name, None, f"skipped: no ε > 0 with both {s_label} and {w_label} cells")
    bad = [
        f"ε={e:g}: {s_label} {_pct(_acc(strong[e])['value'])} > {w_label} CI high {_pct(_acc(weak[e])['ci_high'])}"
        for e in common if not _not_stronger(_acc(strong[e]), _acc(weak[e]))
    ]
    if bad:
        return _check(name, False, "; ".join(bad))
    return _check(name, True, f"{relation} at all {len(common)} ε > 0 (within the 95% CI)")


def _chance_check(pgd: dict[float, dict], n_classes: int, skip: str | None, suffix: str) -> dict:
    name = f"pgd near chance at the largest ε{suffix}"
    chance = 1.0 / n_classes
    threshold = chance + CHANCE_MARGIN
    if skip:
        return _check(name, None, f"skipped: {skip}")
    if not pgd or max(pgd) == 0:
        return _check(name, None, "skipped: no PGD cell with ε > 0")
    e = max(pgd)
    acc = _acc(pgd[e])
    ok = acc["value"] <= threshold or acc["ci_low"] <= threshold
    return _check(name, ok, f"ε={e:g}: PGD accuracy {_pct(acc['value'])} (CI low {_pct(acc['ci_low'])}) "
                            f"{'≤' if ok else '>'} chance {_pct(chance)} + {_pct(CHANCE_MARGIN)}")


def _transfer_check(by: dict, whitebox: list[dict] | None, suffix: str) -> dict:
    name = f"transfer weaker than white-box{suffix}"
    if whitebox is None:
        return _check(name, None, "skipped: no white-box result of the target model found")
    wb = _by_attack(whitebox)
    parts = [_compare(name, wb[a], per_eps, f"white-box {a}", f"transfer {a}", "") for a, per_eps in by.items() if a in wb]
    failed = [p["detail"] for p in parts if p["passed"] is False]
    if failed:
        return _check(name, False, "; ".join(failed))
    if any(p["passed"] for p in parts):
        return _check(name, True, "white-box accuracy ≤ transfer accuracy for every common attack and ε > 0 "
                                  "(within the 95% CI)")
    return _check(name, None, "skipped: no common attack and ε > 0 with the white-box result")


def _group_checks(cells: list[dict], n_classes: int, whitebox: list[dict] | None, transfer: bool,
                  chance_skip: str | None, suffix: str) -> list[dict]:
    by = _by_attack(cells)
    checks = [_compare(f"pgd ≤ fgsm{suffix}", by.get("pgd", {}), by.get("fgsm", {}), "PGD", "FGSM",
                       "PGD accuracy ≤ FGSM accuracy")]
    for attack, per_eps in by.items():
        es = sorted(per_eps)
        if len(es) < 2:
            continue
        bad = [
            f"ε={b:g}: {_pct(_acc(per_eps[b])['value'])} > CI high {_pct(_acc(per_eps[a])['ci_high'])} at ε={a:g}"
            for a, b in zip(es, es[1:]) if not _not_stronger(_acc(per_eps[b]), _acc(per_eps[a]))
        ]
        checks.append(_check(f"{attack}: accuracy non-increasing in ε{suffix}", not bad,
                             "; ".join(bad) if bad else f"non-increasing over {len(es)} ε (within the 95% CI)"))
    checks.append(_chance_check(by.get("pgd", {}), n_classes, chance_skip, suffix))
    checks.append(_compare(f"noise weaker than fgsm{suffix}", by.get("fgsm", {}), by.get("noise", {}),
                           "FGSM", "noise", "noise accuracy ≥ FGSM accuracy"))
    for attack in [a for a in by if _budget_checked(a)]:
        bad = [
            f"ε={e:g}: max L∞ {c['linf']['max']:.6g}"
            for e, c in sorted(by[attack].items())
            if c.get("linf", {}).get("max") is not None and c["linf"]["max"] > e + LINF_TOLERANCE
        ]
        checks.append(_check(f"{attack}: perturbation within ε{suffix}", not bad,
                             "; ".join(bad) if bad else "max L∞ ≤ ε at every ε"))
    if transfer:
        checks.append(_transfer_check(by, whitebox, suffix))
    return checks


def run_checks(
    *,
    cells: Sequence[dict],
    n_classes: int,
    whitebox_cells: Sequence[dict] | None = None,
    transfer: bool = False,
    expect_chance: bool = True,
    label: str = "",
) -> list[dict]:
    """Sanity checks of an evaluation (see the module docstring), logged loudly on failure.

    Parameters
    ----------
    cells : sequence of dict
        Cells from `artgenre.attacks.cells.sweep_cells`.
    n_classes : int
        Number of classes (>= 2), for the chance level.
    whitebox_cells : sequence of dict, optional
        White-box cells of the target model, for the transfer check.
    transfer : bool
        Whether ``cells`` come from a transfer attack.
    expect_chance : bool
        Whether PGD at the largest ε should reach chance (False for defenses, which are meant
        to resist it).
    label : str
        Appended to every check name (e.g. `` [detector-aware]``).

    Returns
    -------
    list of dict
        ``{"name", "passed" (True, False or None when skipped), "detail"}``.
    """
    n_classes = check_int("n_classes", n_classes, 2)
    cells = list(cells)
    chance_skip = ("not applicable to a transfer attack" if transfer else
                   None if expect_chance else "a defense is not expected to fall to chance")
    groups = sorted({bool(c.get("adaptive")) for c in cells}) or [False]
    checks: list[dict] = []
    for g in groups:
        suffix = ("" if len(groups) == 1 else (" (adaptive)" if g else " (non-adaptive)")) + label
        members = [c for c in cells if bool(c.get("adaptive")) == g]
        checks += _group_checks(members, n_classes, None if whitebox_cells is None else list(whitebox_cells),
                                transfer, chance_skip, suffix)
    if len(groups) == 2:
        by = {g: _by_attack(c for c in cells if bool(c.get("adaptive")) == g) for g in groups}
        for attack in [a for a in by[True] if a in by[False]]:
            checks.append(_compare(f"{attack}: adaptive not weaker than non-adaptive{label}", by[True][attack],
                                   by[False][attack], "adaptive", "non-adaptive",
                                   "adaptive accuracy ≤ non-adaptive accuracy"))
    for c in checks:
        if c["passed"] is False:
            log.warning("CHECK FAILED: %s: %s", c["name"], c["detail"])
        elif c["passed"] is None:
            log.info("check %s %s", c["name"], c["detail"])
    return checks
