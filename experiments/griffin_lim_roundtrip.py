"""Do the spectrogram attack's listening examples still fool the model once they are sound?

For each saved example of ``<results>/attack-<model>-examples.npz`` (spectrogram threat model)
the clean and adversarial log-mels are inverted with the report's Griffin-Lim
(`artgenre.report.audio.invert_pair`), written as 16-bit PCM WAVs, read back, turned into
features by the dataset's librosa path (`artgenre.data.features.logmel`, reference 1.0: the
inversion's own scale) and classified by the checkpoint. Prints, per model, how many
adversarial WAVs are misclassified, how many clean WAVs are still classified right, and how
many pairs keep the attack (clean right, adversarial wrong) among the examples the attack
fooled in memory.

Usage: python experiments/griffin_lim_roundtrip.py RESULTS_DIR [MODEL ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from artgenre.attacks.roundtrip import inversion_features, wav_roundtrip
from artgenre.checkpoint import load_checkpoint
from artgenre.report.audio import invert_pair


def main(argv: list[str]) -> int:
    results = Path(argv[0])
    for name in argv[1:] or ["cnn", "resnet18"]:
        z = np.load(results / f"attack-{name}-examples.npz")
        model = load_checkpoint(results / "checkpoints" / f"{name}.pt", device="cpu").model.eval()
        y, fooled_in_memory = z["y"], (z["pred_clean"] == z["y"]) & (z["pred_adv"] != z["y"])
        clean_ok = adv_wrong = kept = 0
        for i in range(len(y)):
            pair = invert_pair(clean=z["clean"][i], adversarial=z["adversarial"][i])
            feats = inversion_features(wav_roundtrip(np.stack([pair.clean, pair.adversarial])))
            with torch.no_grad():
                pc, pa = (int(v) for v in model(torch.from_numpy(feats)).argmax(1))
            clean_ok += pc == y[i]
            adv_wrong += pa != y[i]
            kept += bool(fooled_in_memory[i]) and pc == y[i] and pa != y[i]
        print(f"{name} {z['attack']} ε={float(z['eps']):g}: {len(y)} examples, {int(fooled_in_memory.sum())} fooled in "
              f"memory; after Griffin-Lim + WAV: clean right {clean_ok}/{len(y)}, adversarial wrong {adv_wrong}/{len(y)}, "
              f"attack kept (clean right, adversarial wrong) {kept}/{int(fooled_in_memory.sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
