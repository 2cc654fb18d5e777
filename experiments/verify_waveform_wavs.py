"""Check a waveform attack's saved adversarial audio as a listener's files, independently of the run.

For ``<results>/attack-<model>-waveform.json`` and its examples npz: every saved example's
clean and adversarial audio is written as a 16-bit PCM WAV with soundfile, read back, turned
into features by the dataset's own librosa path (`artgenre.data.features.logmel` with the
clip's reference level, taken from the reloaded test split rather than from the npz) and
classified by the checkpoint's spectrogram model. It prints, per file pair, the true genre,
the predictions and the SNR recomputed from the two WAVs next to the SNR the run recorded,
and for every SNR cell the accuracy the result reports in memory and after the round trip.

Usage: python experiments/verify_waveform_wavs.py RESULTS_DIR [MODEL] [WAV_DIR]
Exit status 1 when a saved example is not misclassified after being read back or its SNR is
off by more than 0.5 dB.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from artgenre.attacks.roundtrip import frame_offset
from artgenre.checkpoint import load_checkpoint
from artgenre.data.features import DEFAULT_FEATURES, logmel
from artgenre.runs import load_checkpoint_data

SNR_TOLERANCE_DB = 0.5


def _snr(clean: np.ndarray, adv: np.ndarray) -> float:
    clean, adv = clean.astype(np.float64), adv.astype(np.float64)
    return float(20 * np.log10(np.linalg.norm(clean) / np.linalg.norm(adv - clean)))


def main(argv: list[str]) -> int:
    results = Path(argv[0])
    model_name = argv[1] if len(argv) > 1 else "cnn"
    wav_dir = Path(argv[2]) if len(argv) > 2 else Path(tempfile.mkdtemp(prefix="artgenre-wavs-"))
    wav_dir.mkdir(parents=True, exist_ok=True)
    result = json.loads((results / f"attack-{model_name}-waveform.json").read_text())
    for c in result["cells"]:
        rt = c.get("roundtrip") or {}
        budget = c.get("snr_db_budget")
        print(f"{c['attack']} {c.get('norm')} budget {'-' if budget is None else f'{budget:g} dB'}: accuracy "
              f"{100 * c['segment_accuracy']['value']:.2f}% in memory, "
              f"{100 * rt['segment_accuracy']['value']:.2f}% after the WAV round trip "
              f"(n={c['segment_accuracy']['n']}); SNR median {c['snr_db']['median']}, min {c['snr_db']['min']}"
              if rt else f"{c['attack']} ε={c['eps']:g}: clean accuracy {100 * c['segment_accuracy']['value']:.2f}%")
    ex = result.get("examples")
    if not ex:
        print("no saved examples")
        return 1
    arrays = np.load(results / ex["file"])
    given = Path(result["config"]["checkpoint"])
    ckpt = load_checkpoint(given if given.exists() else results / "checkpoints" / given.name, device="cpu")
    data = load_checkpoint_data(checkpoint=ckpt, progress=False)
    part = getattr(data, result["config"].get("partition", "test"))
    idx = np.asarray(ex["indices"])
    if not np.array_equal(part.audio[idx], arrays["audio_clean"]):
        print("the npz's clean audio is not the test split's audio at the recorded indices")
        return 1
    model = ckpt.model.eval()
    genres = list(arrays["genres"])
    off, p = frame_offset(), DEFAULT_FEATURES
    bad = 0
    for k, i in enumerate(idx):
        files = {}
        for which in ("clean", "adv"):
            path = wav_dir / f"{k}_{which}.wav"
            sf.write(path, np.clip(arrays[f"audio_{which}"][k], -1.0, 32767 / 32768), p.sr, subtype="PCM_16")
            files[which], sr = sf.read(path, dtype="float32")
            assert sr == p.sr
        x = logmel(files["adv"], p, ref=float(part.audio_ref[i]))[:, off: off + p.frames]
        with torch.no_grad():
            pred = int(model(torch.from_numpy(x[None, None].astype(np.float32))).argmax(1))
        snr_files, snr_run = _snr(files["clean"], files["adv"]), float(arrays["snr_db"][k])
        y = int(arrays["y"][k])
        ok = pred != y and abs(snr_files - snr_run) <= SNR_TOLERANCE_DB
        bad += not ok
        print(f"#{k} {genres[y]}: clean {genres[int(arrays['pred_clean'][k])]} → WAV read back {genres[pred]} "
              f"(run said {genres[int(arrays['pred_roundtrip'][k])]}); SNR from the WAVs {snr_files:.3f} dB, "
              f"run {snr_run:.3f} dB, |Δ| {abs(snr_files - snr_run):.3f}{'' if ok else '  <-- FAILED'}")
    print(f"{len(idx) - bad}/{len(idx)} saved adversarial WAVs misclassified when read back with SNR within "
          f"{SNR_TOLERANCE_DB} dB (files in {wav_dir})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
