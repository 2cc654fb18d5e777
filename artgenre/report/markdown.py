"""``report.md``: the sections in reading order, and the console headline."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from artgenre.data.features import unit_to_db
from artgenre.eps import same_eps
from artgenre.report.collect import BASELINE, SCHEMA_VERSION, ResultSet, num
from artgenre.report.consistency import Consistency
from artgenre.report.index import ResultIndex
from artgenre.report.table import Table

# The budget the headline quotes: the seed paper's middle ε (2.4 dB).
HEADLINE_EPS = 0.03

HOW_TO_READ = (
    "## How to read this report\n\n"
    "- Accuracies are **segment accuracies in %** with Wilson 95 % confidence intervals in "
    "brackets; differences are in percentage points (pts). CSV files and `report.json` keep "
    "fractions in [0, 1] (`X`, `X_ci_low`, `X_ci_high`).\n"
    "- ε is an L∞ budget in model-input units (x ∈ [0, 1] maps 80 dB of log-mel range), so ε "
    "corresponds to 80·ε dB: 0.01 = 0.8 dB, 0.03 = 2.4 dB, 0.1 = 8 dB.\n"
    "- A defense is credited with its **strongest** attack: the lower of its adaptive (through "
    "the defense, marked (a)) and non-adaptive numbers; both are compared in their own section.\n"
    "- **Improvement factor** = defended accuracy / undefended accuracy under the same attack and "
    "ε; if the undefended accuracy is 0 the factor is ∞ (defended > 0) or n/a (both 0), with "
    "the gain in points beside it.\n"
)


@dataclass(frozen=True)
class Figure:
    """A figure of the report: its file, or why it is missing."""

    title: str
    path: Path | None = None
    missing: str | None = None


def _share(v: object) -> str:
    """A fraction (a proportion's value, or a replicate mean) as ``"72.5 %"``."""
    x = num(v) if not isinstance(v, dict) or "value" in v else num(v.get("mean"))
    return "—" if x is None else f"{100 * x:.1f} %"


def _gain(v: object) -> str:
    x = num(v) if not isinstance(v, dict) else num(v.get("mean"))
    return "—" if x is None else f"{100 * x:+.1f} pts"


def headline(*, index: ResultIndex, tables: dict[str, Table], failed: list[dict],
             excluded: int = 0) -> list[tuple[str, str]]:
    """A handful of ``(label, value)`` pairs for the console: clean accuracy, FGSM/PGD at the ε
    closest to 0.03, the best defense, failed checks and results left out."""
    out = []
    for row in tables["table1_clean"].rows:
        label = row["model"] + ("" if row["defense"] == "standard" else f" ({row['defense']})")
        out.append((f"{label} clean acc.", _share(row["segment_accuracy"])))
    # Read from Table 2, so that replicates give their mean, and the worst case leads.
    t2 = {row["eps"]: row for row in tables["table2_robustness"].rows}
    names = {c.name for c in tables["table2_robustness"].columns}
    for m in index.models:
        for a in [s for s in ("robust",) if f"{m}/{s}" in names] + index.attacks(m, BASELINE)[:2]:
            eps = [e for e, row in t2.items() if e > 0 and row.get(f"{m}/{a}") is not None]
            if not eps:
                continue
            e = min(eps, key=lambda v: abs(v - HEADLINE_EPS))
            out.append((f"{m} {a.upper()} ε={e:g} ({float(unit_to_db(e)):.1f} dB)", _share(t2[e][f"{m}/{a}"])))
    best = tables["table6_best_defense"].rows
    for row in best:
        if same_eps(row["eps"], HEADLINE_EPS) or len(best) <= 4:
            out.append((f"best defense {row['model']} {row['attack'].upper()} ε={row['eps']:g}",
                        f"{row['best_defense']} {_gain(row['gain_pts'])}"))
    out.append(("failed checks", str(len(failed))))
    if excluded:
        out.append(("results left out (inconsistent)", str(excluded)))
    return out


def _problems(res: ResultSet, failed: list[dict], consistency: Consistency,
              unreadable: list[tuple[str, str]]) -> list[str]:
    md = []
    # A failed check must not hide below the tables it invalidates.
    if failed:
        md.append(f"## ⚠ FAILED automatic checks ({len(failed)})\n")
        md.append("These results did not pass a sanity check; read the numbers below with care.\n")
        md += [f"- **{c['name']}** ({c['model']}, defense {c['defense']}, `{c['file']}`): {c['detail']}"
               for c in failed]
        md.append("")
    ref = consistency.reference
    if consistency.excluded:
        md.append(f"## ⚠ Results left out ({len(consistency.excluded)})\n")
        md.append("These files were run on other data or other evaluated samples than the rest, so "
                  f"no table uses them. Reference chosen by: {ref['basis']}\n")
        md.append("| File | Kind | Model | Reason |\n|---|---|---|---|")
        md += [f"| `{e['file']}` | {e['kind']} | {e['model']} | {e['reason'].replace('|', '/')} |"
               for e in consistency.excluded]
        md.append("")
    if ref.get("unverified"):
        md.append("Data configuration not recorded (only the dataset name was compared): "
                  + ", ".join(f"`{f}`" for f in ref["unverified"]) + "\n")
    if unreadable:
        md.append(f"## ⚠ Unreadable files ({len(unreadable)})\n")
        md += [f"- `{res.rel(p)}`: {why}" for p, why in unreadable]
        md.append("")
    incomplete = [r for r in res.all if r.data.get("complete") is False]
    if incomplete:
        md.append("## ⚠ Incomplete runs\n")
        md.append("These result files were written by a run that has not finished (a rerun resumes "
                  "it); their tables may lack cells:\n")
        md += [f"- `{res.rel(r.path)}`" for r in incomplete]
        md.append("")
    newer = [r for r in res.all if r.schema_version > SCHEMA_VERSION]
    if newer:
        md.append(f"Written by a newer artgenre (schema_version > {SCHEMA_VERSION}), read as far as this "
                  "version understands them: " + ", ".join(f"`{res.rel(r.path)}`" for r in newer) + "\n")
    if res.ignored:
        md.append("Ignored JSON with an unknown kind: "
                  + ", ".join(f"`{res.rel(p)}` ({w})" for p, w in res.ignored) + "\n")
    return md


def render(*, index: ResultIndex, setup: Table, tables: dict[str, Table], audio: Table,
           figures: list[Figure], failed: list[dict], unreadable: list[tuple[str, str]],
           consistency: Consistency, examples_note: str, results_dir: Path) -> str:
    """The whole ``report.md``: settings first, then problems (failed checks, left-out,
    unreadable and incomplete files), the reading guide, the tables, figures and audio."""
    res = index.results
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    md = [
        "# artgenre report\n",
        f"Built {now} from `{results_dir}`: {len(res.train)} training, {len(res.attack)} attack and "
        f"{len(res.defense)} defense result file(s). Nothing was retrained or re-attacked.\n",
        f"## {setup.title}\n", setup.to_markdown(),
    ]
    md += _problems(res, failed, consistency, unreadable)
    md.append(HOW_TO_READ)
    for key in [k for k in tables if k != "table_checks"] + ["table_checks"]:
        t = tables[key]
        if not t.shown:
            continue
        md.append(f"## {t.title}\n")
        md.append(t.to_markdown())
        if t.rows:
            md.append(f"CSV: [`{key}.csv`]({key}.csv)\n")
    md.append("## Figures\n")
    for f in figures:
        if f.path is not None:
            md.append(f"### {f.title}\n\n![{f.title}]({f.path.name})\n")
        else:
            md.append(f"### {f.title}\n\n_not run_: {f.missing}\n")
    md.append(f"## {audio.title}\n")
    if examples_note:
        md.append(examples_note + "\n")
    md.append(audio.to_markdown())
    return "\n".join(md)


__all__ = ["HEADLINE_EPS", "HOW_TO_READ", "Figure", "headline", "render"]
