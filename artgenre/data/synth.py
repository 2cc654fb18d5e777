"""Built-in synthetic music dataset ``synth``: ten procedurally generated "genres".

Every clip is rendered in-process with NumPy from a seeded generator (no files are shipped or
downloaded) and goes through exactly the same feature code as GTZAN
(`artgenre.data.features.waveform_to_segments`).

How a clip is made
------------------
A genre is a *style*: a tempo range, swing, drum patterns and kits, bass lines, chord
comping, melody style, instruments for the bass / comping / lead roles, chord progressions
and scales, and mix settings (distortion, reverb, noise). Each clip draws its own values from
its genre's style: tempo, key, progression, instrument timbres (partial amplitudes,
envelopes, vibrato, detune), role gains, a random start point in the bar, timing jitter,
recording EQ and a noise floor of random colour and level.

The classes overlap on purpose: tempo ranges, registers and instruments are shared between
neighbouring genres (blues/jazz/rock/country, disco/pop/hiphop, hiphop/reggae, rock/metal,
...). Each discrete component (drum pattern, kit, bass line, comping, melody, instruments,
progression) is the genre's typical choice with probability `TYPICAL_PROBABILITY` and one of
its variations otherwise, and each style component (`_BORROWABLE`) is swapped for a
neighbouring genre's with probability `BORROW_PROBABILITY`. Gains, EQ, reverb and the noise
level are drawn per clip from genre-dependent ranges.

Default size and difficulty
---------------------------
``clips_per_genre=20`` clips of ``clip_seconds=12`` s: 200 clips, 4 segments of 128 frames
(2.97 s) each, 800 segments. The ``random`` 80/10/10 split by track gives 160 / 20 / 20 tracks
= 640 / 80 / 80 segments. Synthesis plus features take about 7 s on two idle cores (about
65 ms of CPU per clip). The reference 4-block CNN (32-64-128-256 conv blocks, 5 epochs,
Adam 1e-3 with weight decay 1e-4, batch 32) reached 78.8 / 76.3 / 78.8 / 81.3 % segment test
accuracy (validation 90.0 / 81.3 / 96.3 / 75.0 %) for seeds 0-3: clearly learnable, not
trivial. The difficulty knobs were tuned against that model: harder settings tried on the
way (borrowing 0.1-0.25, typical choice 0.5-0.85, 20-25 dB more noise) gave 13-80 % test
accuracy, mostly below 75 %.

A clip is a pure function of ``(seed, genre, index, clip_seconds, sr)``, so the data are
identical whether clips are rendered in one process or in a pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artgenre.data.dataset import GENRES
from artgenre.data.synth_score import Grid, Harmony, bass_events, comp_events, drum_part, lead_events
from artgenre.data.synth_sound import Render, coloured_noise, drum_kit, highpass, lowpass, make_inst, reverb, rms
from artgenre.data.synth_styles import BORROWABLE, NEIGHBOURS, PATTERNS, STYLES
from artgenre.errors import ParameterError, check_int, check_range

# Bump when the generator changes: it is part of the feature-cache key.
SYNTH_VERSION = 2
DEFAULT_CLIPS_PER_GENRE = 20
DEFAULT_CLIP_SECONDS = 12.0
MAX_CLIP_SECONDS = 120.0
BORROW_PROBABILITY = 0.02
# Added to every genre's signal-to-noise range (dB); lower means noisier, harder data.
SNR_OFFSET_DB = 0.0
# Chance that a clip takes its genre's typical (first-listed) choice of a component.
TYPICAL_PROBABILITY = 0.95


@dataclass(frozen=True)
class SynthOptions:
    """Size of the synthetic dataset.

    Attributes
    ----------
    clips_per_genre : int
        Clips per class, >= 1.
    clip_seconds : float
        Length of a clip, at least one segment (128 frames of hop 512 at 22050 Hz ≈ 2.97 s)
        and at most `MAX_CLIP_SECONDS`.
    """

    clips_per_genre: int = DEFAULT_CLIPS_PER_GENRE
    clip_seconds: float = DEFAULT_CLIP_SECONDS

    def __post_init__(self) -> None:
        object.__setattr__(self, "clips_per_genre", check_int("clips_per_genre", self.clips_per_genre, 1))
        sec = check_range("clip_seconds", self.clip_seconds, low=0.0, high=MAX_CLIP_SECONDS, low_open=True)
        object.__setattr__(self, "clip_seconds", sec)


def _pick(choices, rng):
    # The first choice is the genre's typical one; the others are variations.
    if rng.random() < TYPICAL_PROBABILITY:
        return choices[0]
    return choices[int(rng.integers(len(choices)))]


def _draw_style(genre: str, rng: np.random.Generator) -> dict:
    """The clip's components: its genre's, each swapped for a neighbour's with some probability."""
    style = dict(STYLES[genre])
    for comp in BORROWABLE:
        if rng.random() < BORROW_PROBABILITY:
            style[comp] = STYLES[_pick(NEIGHBOURS[genre], rng)][comp]
    return style


def synthesize_clip(*, genre: str, seed: int, index: int, seconds: float, sr: int = 22050) -> np.ndarray:
    """Render one synthetic clip.

    Parameters
    ----------
    genre : str
        One of `artgenre.data.dataset.GENRES`.
    seed : int
        Dataset seed (non-negative).
    index : int
        Clip number within the genre (non-negative); each (seed, genre, index) is a
        different, reproducible clip.
    seconds : float
        Clip length, > 0.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    np.ndarray, shape (round(seconds * sr),), float32
        Mono waveform with peak amplitude 0.9.

    Raises
    ------
    ParameterError
        Unknown genre, negative seed/index or non-positive length.
    """
    if genre not in STYLES:
        raise ParameterError(f"genre={genre!r} is not valid; choose one of: {', '.join(GENRES)}")
    seed = check_int("seed", seed, 0)
    index = check_int("index", index, 0)
    seconds = check_range("seconds", seconds, low=0.0, high=MAX_CLIP_SECONDS, low_open=True)
    g_idx = GENRES.index(genre)
    rng = np.random.default_rng(np.random.SeedSequence([0xA27, int(seed), g_idx, int(index)]))
    n = int(round(seconds * sr))
    style = _draw_style(genre, rng)

    bpm = rng.uniform(*style["tempo"])
    beat = 60.0 / bpm
    swing = rng.uniform(*style["swing"])
    offset = -rng.uniform(0, 4 * beat)  # start somewhere inside a bar
    grid = Grid(beat, swing, offset, int(np.ceil((seconds - offset) / (4 * beat))) + 1, 0.006, rng)
    harmony = Harmony(_pick(style["harmony"], rng), int(rng.integers(12)), rng)
    render = Render(n, sr, rng)

    parts: list[tuple[np.ndarray, float]] = []
    pattern = _pick(style["drums"], rng)
    if pattern != "none":
        kit = drum_kit(_pick(style["kit"], rng), PATTERNS[pattern], sr, rng)
        parts.append((drum_part(pattern, kit, grid, n, sr, rng), rng.uniform(*style["mix"][0])))
    bass_centre = int(rng.integers(*style["register"][0]))
    parts.append((render.notes(make_inst(_pick(style["bass_inst"], rng), rng),
                               bass_events(_pick(style["bass"], rng), grid, harmony, rng, bass_centre)),
                  rng.uniform(*style["mix"][1])))
    comp_centre = int(rng.integers(*style["register"][1]))
    parts.append((render.notes(make_inst(_pick(style["comp_inst"], rng), rng),
                               comp_events(_pick(style["comp"], rng), grid, harmony, rng, comp_centre)),
                  rng.uniform(*style["mix"][2])))
    lead = _pick(style["lead"], rng)
    if lead != "none":
        lead_centre = int(rng.integers(*style["register"][2]))
        parts.append((render.notes(make_inst(_pick(style["lead_inst"], rng), rng),
                                   lead_events(lead, grid, harmony, rng, lead_centre)),
                      rng.uniform(*style["mix"][3])))

    mix = np.zeros(n, dtype=np.float32)
    for part, gain_db in parts:
        level = rms(part)
        if level > 1e-9:
            mix += part * (10 ** (gain_db / 20) / level)
    mix = reverb(mix, rng.uniform(*style["reverb"]), sr, rng)
    # Recording chain: band limits, then a noise floor of random colour and level.
    mix = lowpass(mix, rng.uniform(*style["lowpass"]), sr)
    mix = highpass(mix, rng.uniform(25, 150), sr)
    snr_db = rng.uniform(*style["snr"]) + SNR_OFFSET_DB
    mix += coloured_noise(n, rng.uniform(0, 1), sr, rng) * (rms(mix) / 10 ** (snr_db / 20))
    if rng.random() < (0.6 if genre == "hiphop" else 0.1):
        crackle = (rng.random(n) < rng.uniform(20, 80) / sr) * rng.standard_normal(n) * 4 * rms(mix)
        mix += crackle.astype(np.float32)
    peak = np.abs(mix).max()
    return (0.9 * mix / peak if peak > 0 else mix).astype(np.float32)
