"""The report's tables in the order they appear in ``report.md`` (`TABLES`).

The builders live in `artgenre.report.attack_tables` and `artgenre.report.defense_tables`;
the `Table` type and its renderers in `artgenre.report.table`.
"""

from __future__ import annotations

from collections.abc import Callable

from artgenre.registry import Registry
from artgenre.report.attack_tables import (
    build_checks,
    build_deepfool,
    build_table1,
    build_table2,
    build_transfer,
    check_rows,
)
from artgenre.report.defense_tables import (
    PAPER_EPS,
    build_adaptive,
    build_detector,
    build_table3,
    build_table4,
    build_table5,
    build_table6,
    table_eps,
)
from artgenre.report.improvement import factor_label, improvement_factor
from artgenre.report.index import ResultIndex
from artgenre.report.waveform import build_table2_waveform
from artgenre.report.table import ADAPTIVE_MARK, DASH, FORMATS, Column, Table, make_table

TABLES: Registry[Callable[[ResultIndex], Table]] = Registry("table")
for _key, _fn in (
    ("table1_clean", build_table1), ("table2_robustness", build_table2),
    ("table2_waveform", build_table2_waveform),
    ("table3_defense_clean", build_table3), ("table4_defense_attack", build_table4),
    ("table5_improvement", build_table5), ("table6_best_defense", build_table6),
    ("table_adaptive", build_adaptive), ("table_deepfool", build_deepfool),
    ("table_detector", build_detector), ("table_transfer", build_transfer),
    ("table_checks", build_checks),
):
    TABLES.register(_key)(_fn)

__all__ = [
    "ADAPTIVE_MARK", "DASH", "FORMATS", "PAPER_EPS", "TABLES", "Column", "Table", "check_rows",
    "factor_label", "improvement_factor", "make_table", "table_eps",
]
