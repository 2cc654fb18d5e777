"""Report builder: turns result files into ``report.md`` (the seed paper's Tables 1–6 and
more), CSV tables, PNG figures, listenable WAV pairs and ``report.json``.

Only result files are read; see ``docs/design.md`` ("Result files") for their schema.
"""

from artgenre.report.audio import AudioPair, invert_pair, snr_db, write_wav
from artgenre.report.build import ReportConfig, ReportSummary, build_report, run_report
from artgenre.report.tables import PAPER_EPS, TABLES, Table, factor_label, improvement_factor

__all__ = [
    "PAPER_EPS", "TABLES", "AudioPair", "ReportConfig", "ReportSummary", "Table", "build_report",
    "factor_label", "improvement_factor", "invert_pair", "run_report", "snr_db", "write_wav",
]
