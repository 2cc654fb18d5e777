"""The listening-examples section: WAV pairs and the table that lists them.

A waveform example (its npz holds ``audio_clean``/``audio_adv``) is written as the audio the
model was attacked with; a spectrogram example is rebuilt by Griffin-Lim (`invert_pair`).
"""

from __future__ import annotations

import math
from pathlib import Path

from artgenre.data.features import DEFAULT_FEATURES
import numpy as np

from artgenre.report.audio import AudioPair, invert_pair, snr_db, write_wav
from artgenre.report.examples import ExampleSelection
from artgenre.report.table import Column, Table, make_table
from artgenre.runtime import log, progress

# Errors an example may raise on odd-but-parseable data; the report skips that example
# instead of losing everything else.
ITEM_ERRORS = (ValueError, TypeError, KeyError, IndexError, ArithmeticError, OSError)
TITLE = "Listening examples"
GRIFFIN_LIM = "Griffin-Lim"
ATTACKED_AUDIO = "attacked audio"
NOT_RECORDED = "not recorded"

_COLUMNS = (
    Column("idx", "#", "int"), Column("model", "Model"), Column("strategy", "Defense"),
    Column("attack", "Attack"), Column("eps", "ε", "eps"), Column("genre", "True genre"),
    Column("predicted", "Predicted clean → adversarial"), Column("verified", "Successful attack", "bool"),
    Column("track", "Track"), Column("source", "Audio"), Column("snr_db", "SNR (dB)", "float2"),
    Column("mean_abs_db", "Mean |Δ| per bin", "db"), Column("max_abs_db", "Max |Δ|", "db"),
    Column("clean_wav", "Clean WAV", "link"), Column("adversarial_wav", "Adversarial WAV", "link"),
)


def predicted_label(ex: dict) -> str:
    """``"blues → jazz"`` for an example whose predictions are recorded, else ``"not recorded"``."""
    if ex.get("pred_clean") is None or ex.get("pred_adv") is None:
        return NOT_RECORDED
    return f"{ex['pred_clean_genre']} → {ex['pred_adv_genre']}"


def verification_note(*, selection: ExampleSelection) -> str:
    """One Markdown sentence on whether the shown examples are verified successful attacks."""
    shown = selection.examples
    unverified = sum(ex["verified"] is None for ex in shown)
    if not shown:
        if selection.saved:
            return (f"None of the {selection.saved} saved example(s) is a successful attack "
                    "(clean prediction = true genre ≠ adversarial prediction), so none is shown.")
        return ""
    if unverified:
        return (f"**{unverified} of the {len(shown)} example(s) shown are not verified as successful "
                "attacks**: their examples file does not record the model's predictions (written by "
                "an older version); they may include attacks that did not change the prediction.")
    return ("Every example shown is a successful attack: the model classified the clean segment "
            "correctly and the adversarial one wrongly (true genre = clean prediction ≠ adversarial "
            "prediction).")


def _pair(ex: dict, *, n_iter: int, seed: int) -> tuple[AudioPair, str]:
    """The example's WAV pair and where it comes from (the attacked audio, else Griffin-Lim)."""
    if ex.get("audio_clean") is None:
        pair = invert_pair(clean=ex["clean"], adversarial=ex["adversarial"], params=DEFAULT_FEATURES,
                           n_iter=n_iter, seed=seed)
        return pair, GRIFFIN_LIM
    clean, adv = ex["audio_clean"], ex["audio_adv"]
    delta = np.abs(ex["adversarial"] - ex["clean"]) * DEFAULT_FEATURES.top_db
    # The SNR is recomputed from the two waveforms rather than trusted from the file.
    return AudioPair(clean=clean, adversarial=adv, sr=DEFAULT_FEATURES.sr, snr_db=snr_db(clean=clean, other=adv),
                     mean_abs_db=float(delta.mean()), max_abs_db=float(delta.max())), ATTACKED_AUDIO


def _empty(why: str) -> Table:
    return make_table(key="table_audio", title=TITLE, columns=_COLUMNS, rows=(), empty=why)


def audio_table(*, out: Path, selection: ExampleSelection, enabled: bool, n_iter: int, seed: int,
                files: list[Path]) -> Table:
    """Synthesise a WAV pair per chosen example and tabulate them.

    Parameters
    ----------
    out : Path
        Report folder; WAVs go to ``out/audio/<idx>_{clean,adversarial}.wav``.
    selection : ExampleSelection
    enabled : bool
        False skips synthesis (the table is then "not run").
    n_iter, seed : int
        Griffin-Lim iterations and initial-phase seed.
    files : list of Path
        Every written WAV is appended here.

    Returns
    -------
    Table
        Key ``table_audio``.
    """
    examples = selection.examples
    if not examples:
        return _empty(verification_note(selection=selection) or "no saved examples (examples npz)")
    if not enabled:
        return _empty("audio synthesis switched off (--no-audio)")
    rows = []
    with progress() as bar:
        task = bar.add_task("Listening examples", total=len(examples))
        for ex in examples:
            try:
                pair, source = _pair(ex, n_iter=n_iter, seed=seed)
            except ITEM_ERRORS as exc:
                log.warning("audio for example %d failed: %s", ex["idx"], exc)
                bar.advance(task)
                continue
            names = {}
            for which, wave in (("clean", pair.clean), ("adversarial", pair.adversarial)):
                rel = f"audio/{ex['idx']}_{which}.wav"
                files.append(write_wav(path=out / rel, samples=wave, sr=pair.sr))
                names[which] = rel
            rows.append({
                "idx": ex["idx"], "model": ex["model"], "strategy": ex["strategy"],
                "attack": ex["attack"], "eps": ex["eps"], "genre": ex["genre"],
                "predicted": predicted_label(ex), "verified": ex["verified"], "track": ex["track"],
                "source": source, "snr_db": pair.snr_db if math.isfinite(pair.snr_db) else None,
                "mean_abs_db": pair.mean_abs_db, "max_abs_db": pair.max_abs_db,
                "clean_wav": names["clean"], "adversarial_wav": names["adversarial"],
            })
            bar.advance(task)
    return make_table(
        key="table_audio", title=TITLE, columns=_COLUMNS, rows=rows,
        note=f"{GRIFFIN_LIM}: both waveforms share the phase that Griffin-Lim found for the clean spectrogram, so "
        "adversarial − clean is the sound of the perturbation alone. SNR = 10·log10(Σclean² / "
        "Σ(adversarial − clean)²); higher = quieter perturbation. |Δ| is taken per mel bin on the "
        f"log-mel input, in dB. {DEFAULT_FEATURES.sr} Hz, 16-bit PCM, ≈2.95 s per file. "
        "Successful attack: yes = verified from the recorded predictions, — = not recorded. "
        f"{ATTACKED_AUDIO}: a waveform attack's own clean and adversarial audio, written unchanged "
        "(clipped to [−1, 1]); its SNR is recomputed from the two arrays.",
        empty="audio synthesis failed for every example (see log)",
    )


__all__ = ["ITEM_ERRORS", "audio_table", "predicted_label", "verification_note"]
