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

_TABLE = 4096  # wavetable length (power of two: phase wraps with a bit mask)

# ---------------------------------------------------------------------------------------
# Styles. Each entry lists the choices a clip draws from; `_NEIGHBOURS` says whose choices a
# clip may borrow instead.

_STYLES: dict[str, dict] = {
    "blues": dict(
        tempo=(66, 96), swing=(0.58, 0.68), drums=["shuffle", "shuffle", "rock", "jazz_ride"],
        kit=["acoustic", "jazz"], bass=["walking", "boogie", "root_quarters"],
        bass_inst=["upright", "finger_bass"], comp=["shuffle_riff", "halfnotes", "jazz_comp"],
        comp_inst=["clean_guitar", "piano", "organ", "crunch_guitar"], lead=["bluesy", "bluesy", "melody"],
        lead_inst=["crunch_guitar", "sax", "clean_guitar", "organ"], harmony=["blues12", "blues_quick"],
        reverb=(0.05, 0.3), lowpass=(3500, 6500), snr=(41, 61),
        mix=((-3, 1), (-3, 1), (-3, 1), (-1, 3)), register=((33, 43), (50, 60), (64, 76)),
    ),
    "classical": dict(
        tempo=(56, 100), swing=(0.5, 0.5), drums=["none"], kit=["acoustic"],
        bass=["sustain", "root_halves"], bass_inst=["strings", "piano", "cello"],
        comp=["sustain", "arp8", "arp16"], comp_inst=["strings", "piano", "harp"],
        lead=["melody", "legato"], lead_inst=["strings", "flute", "piano", "oboe"],
        harmony=["classical_major", "classical_minor"], reverb=(0.3, 0.6), lowpass=(3500, 7000), snr=(49, 71),
        mix=((0, 0), (-6, -2), (-1, 2), (-2, 2)), register=((38, 48), (60, 72), (72, 84)),
    ),
    "country": dict(
        tempo=(96, 132), swing=(0.5, 0.56), drums=["train", "two_step", "two_step"],
        kit=["acoustic", "jazz"], bass=["two_beat", "root_halves"], bass_inst=["finger_bass", "upright"],
        comp=["strum8", "halfnotes", "arp8"], comp_inst=["clean_guitar", "banjo", "piano"],
        lead=["melody", "melody"], lead_inst=["banjo", "fiddle", "clean_guitar"],
        harmony=["country", "pop_axis"], reverb=(0.05, 0.25), lowpass=(6000, 10000), snr=(47, 69),
        mix=((-4, 0), (-3, 1), (0, 3), (-2, 2)), register=((35, 45), (55, 67), (70, 82)),
    ),
    "disco": dict(
        tempo=(114, 128), swing=(0.5, 0.53), drums=["four_floor"], kit=["acoustic", "electronic"],
        bass=["octaves8", "octaves8", "root8"], bass_inst=["finger_bass", "synth_bass"],
        comp=["stabs", "strum16", "sustain"], comp_inst=["strings", "clean_guitar", "epiano"],
        lead=["melody", "sparse"], lead_inst=["strings", "brass", "synth_lead"],
        harmony=["disco", "minor7_vamp"], reverb=(0.1, 0.35), lowpass=(7000, 11000), snr=(53, 75),
        mix=((1, 4), (0, 3), (-3, 0), (-4, 0)), register=((33, 45), (60, 72), (72, 84)),
    ),
    "hiphop": dict(
        tempo=(82, 96), swing=(0.5, 0.62), drums=["boombap", "trap"], kit=["electronic", "electronic", "acoustic"],
        bass=["sub_sync", "sub_sync", "root_halves"], bass_inst=["sub808", "synth_bass"],
        comp=["sustain", "halfnotes", "stabs"], comp_inst=["epiano", "synth_pad", "piano"],
        lead=["sparse", "none"], lead_inst=["synth_lead", "flute", "epiano"],
        harmony=["minor_loop", "minor7_vamp"], reverb=(0.0, 0.2), lowpass=(4500, 8000), snr=(43, 65),
        mix=((2, 5), (3, 7), (-7, -3), (-8, -3)), register=((26, 34), (55, 63), (70, 78)),
    ),
    "jazz": dict(
        tempo=(120, 190), swing=(0.6, 0.68), drums=["jazz_ride", "jazz_ride", "none"], kit=["jazz"],
        bass=["walking"], bass_inst=["upright"], comp=["jazz_comp", "jazz_comp", "halfnotes"],
        comp_inst=["piano", "epiano"], lead=["bebop", "melody"], lead_inst=["sax", "brass", "piano"],
        harmony=["jazz_251", "jazz_turnaround"], reverb=(0.1, 0.4), lowpass=(3000, 6000), snr=(39, 59),
        mix=((-6, -2), (-2, 2), (-3, 0), (0, 3)), register=((33, 43), (55, 65), (62, 74)),
    ),
    "metal": dict(
        tempo=(140, 200), swing=(0.5, 0.5), drums=["metal", "metal", "half_time"], kit=["metal"],
        bass=["root8", "root16"], bass_inst=["dist_bass"], comp=["power8", "power16", "power_sustain"],
        comp_inst=["dist_guitar", "dist_guitar"], lead=["fast", "melody", "none"], lead_inst=["dist_guitar"],
        harmony=["metal_phrygian", "metal_minor"], reverb=(0.0, 0.25), lowpass=(9000, 11000), snr=(53, 75),
        mix=((0, 3), (-3, 0), (2, 5), (-4, 0)), register=((28, 36), (40, 50), (64, 76)),
    ),
    "pop": dict(
        tempo=(98, 120), swing=(0.5, 0.54), drums=["pop", "pop", "four_floor"], kit=["electronic", "acoustic"],
        bass=["root8", "root_quarters", "octaves8"], bass_inst=["synth_bass", "finger_bass"],
        comp=["halfnotes", "arp16", "sustain", "strum8"], comp_inst=["synth_pad", "piano", "clean_guitar"],
        lead=["melody", "sparse"], lead_inst=["synth_lead", "flute", "sax"],
        harmony=["pop_axis", "pop_50s"], reverb=(0.1, 0.4), lowpass=(8000, 11000), snr=(57, 79),
        mix=((0, 3), (-1, 2), (-3, 0), (0, 3)), register=((33, 43), (55, 67), (67, 79)),
    ),
    "reggae": dict(
        tempo=(66, 86), swing=(0.5, 0.6), drums=["one_drop", "one_drop", "steppers"], kit=["acoustic", "electronic"],
        bass=["reggae_bass"], bass_inst=["finger_bass", "sub808"], comp=["skank", "skank", "skank8"],
        comp_inst=["organ", "clean_guitar", "epiano"], lead=["sparse", "melody", "none"],
        lead_inst=["organ", "brass", "flute"], harmony=["reggae_major", "reggae_minor"],
        reverb=(0.1, 0.35), lowpass=(4000, 7500), snr=(43, 65),
        mix=((-1, 2), (3, 6), (-4, -1), (-5, -1)), register=((28, 38), (62, 72), (65, 75)),
    ),
    "rock": dict(
        tempo=(108, 144), swing=(0.5, 0.52), drums=["rock", "rock", "half_time"], kit=["acoustic", "metal"],
        bass=["root8", "root_quarters"], bass_inst=["finger_bass", "dist_bass"],
        comp=["power8", "power_sustain", "strum8"], comp_inst=["crunch_guitar", "dist_guitar", "crunch_guitar"],
        lead=["melody", "bluesy", "none"], lead_inst=["crunch_guitar", "dist_guitar", "organ"],
        harmony=["rock_mixo", "rock_145"], reverb=(0.05, 0.3), lowpass=(6000, 10500), snr=(49, 71),
        mix=((0, 3), (-2, 1), (1, 4), (-3, 1)), register=((30, 40), (45, 57), (64, 76)),
    ),
}

_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "blues": ("jazz", "rock", "country"),
    "classical": ("jazz", "pop"),
    "country": ("blues", "rock", "pop"),
    "disco": ("pop", "hiphop"),
    "hiphop": ("reggae", "disco", "pop"),
    "jazz": ("blues", "classical"),
    "metal": ("rock",),
    "pop": ("disco", "rock", "country"),
    "reggae": ("hiphop", "pop"),
    "rock": ("metal", "blues", "country", "pop"),
}

_BORROWABLE = ("tempo", "drums", "kit", "bass", "bass_inst", "comp", "comp_inst", "lead", "lead_inst", "harmony",
               "lowpass", "snr", "mix", "register")

# Drum patterns on a 16-step bar: voice -> ((step, velocity), ...).
_EIGHTHS = tuple((s, 0.8 if s % 4 == 0 else 0.55) for s in range(0, 16, 2))
_SIXTEENTHS = tuple((s, 0.7 if s % 4 == 0 else 0.4) for s in range(16))
_PATTERNS: dict[str, dict[str, tuple]] = {
    "none": {},
    "rock": {"kick": ((0, 1.0), (8, 0.9), (10, 0.6)), "snare": ((4, 1.0), (12, 1.0)), "hat": _EIGHTHS},
    "half_time": {"kick": ((0, 1.0), (7, 0.6)), "snare": ((8, 1.0),), "hat": _EIGHTHS, "crash": ((0, 0.5),)},
    "metal": {"kick": tuple((s, 0.9) for s in range(16)), "snare": ((4, 1.0), (12, 1.0)),
              "crash": tuple((s, 0.6) for s in range(0, 16, 4)), "hat": _EIGHTHS},
    "four_floor": {"kick": ((0, 1.0), (4, 1.0), (8, 1.0), (12, 1.0)), "clap": ((4, 0.9), (12, 0.9)),
                   "open_hat": ((2, 0.7), (6, 0.7), (10, 0.7), (14, 0.7)), "hat": _SIXTEENTHS},
    "pop": {"kick": ((0, 1.0), (6, 0.7), (8, 0.9)), "clap": ((4, 1.0), (12, 1.0)), "hat": _EIGHTHS},
    "boombap": {"kick": ((0, 1.0), (3, 0.6), (7, 0.8), (10, 0.9)), "snare": ((4, 1.0), (12, 1.0)), "hat": _EIGHTHS},
    "trap": {"kick": ((0, 1.0), (10, 0.9)), "clap": ((8, 1.0),), "hat": _SIXTEENTHS},
    "one_drop": {"kick": ((8, 1.0),), "rim": ((8, 0.9),), "hat": _EIGHTHS},
    "steppers": {"kick": ((0, 1.0), (4, 1.0), (8, 1.0), (12, 1.0)), "rim": ((8, 0.9),),
                 "hat": ((2, 0.7), (6, 0.7), (10, 0.7), (14, 0.7))},
    "jazz_ride": {"ride": ((0, 0.9), (4, 0.9), (6, 0.6), (8, 0.9), (12, 0.9), (14, 0.6)),
                  "pedal_hat": ((4, 0.6), (12, 0.6)), "kick": ((0, 0.25), (8, 0.25)), "brush": ((4, 0.4), (12, 0.4))},
    "train": {"kick": ((0, 1.0), (8, 1.0)), "brush": _SIXTEENTHS, "snare": ((4, 0.8), (12, 0.8))},
    "two_step": {"kick": ((0, 1.0), (8, 0.9)), "rim": ((4, 0.9), (12, 0.9)), "hat": _EIGHTHS},
    "shuffle": {"kick": ((0, 1.0), (8, 0.9)), "snare": ((4, 1.0), (12, 1.0)),
                "hat": tuple((s, 0.7 if s % 4 == 0 else 0.5) for s in range(0, 16, 2))},
}

# Chord qualities as semitones above the chord root.
_QUALITY: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dom7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10), "dim": (0, 3, 6), "pow": (0, 7, 12), "dom9": (0, 4, 10, 14),
}
_SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "harmonic": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10), "mixolydian": (0, 2, 4, 5, 7, 9, 10), "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "blues": (0, 3, 5, 6, 7, 10), "penta_major": (0, 2, 4, 7, 9), "penta_minor": (0, 3, 5, 7, 10),
}
# Progression name -> (chords as (root offset, quality), beats per chord, scales for melodies).
_HARMONY: dict[str, tuple[tuple[tuple[int, str], ...], tuple[int, ...], tuple[str, ...]]] = {
    "blues12": (((0, "dom7"),) * 4 + ((5, "dom7"),) * 2 + ((0, "dom7"),) * 2
                + ((7, "dom7"), (5, "dom7"), (0, "dom7"), (7, "dom7")), (4,), ("blues", "penta_minor", "mixolydian")),
    "blues_quick": (((0, "dom7"), (5, "dom7"), (0, "dom7"), (0, "dom7"), (5, "dom7"), (5, "dom7"), (0, "dom7"),
                     (7, "dom7")), (4,), ("blues", "penta_minor")),
    "classical_major": (((0, "maj"), (5, "maj"), (7, "dom7"), (0, "maj"),
                         (9, "min"), (2, "min"), (7, "maj"), (0, "maj")),
                        (2, 4), ("major",)),
    "classical_minor": (((0, "min"), (5, "min"), (7, "maj"), (0, "min"),
                         (8, "maj"), (2, "dim"), (7, "dom7"), (0, "min")),
                        (2, 4), ("harmonic", "minor")),
    "country": (((0, "maj"), (0, "maj"), (5, "maj"), (7, "maj")), (4,), ("penta_major", "major")),
    "pop_axis": (((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")), (4,), ("major", "penta_major")),
    "pop_50s": (((0, "maj"), (9, "min"), (5, "maj"), (7, "maj")), (4,), ("major", "penta_major")),
    "disco": (((2, "min7"), (7, "dom7"), (0, "maj7"), (9, "min7")), (4,), ("dorian", "major")),
    "minor7_vamp": (((0, "min7"), (5, "min7")), (4, 8), ("dorian", "penta_minor")),
    "minor_loop": (((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")), (4,), ("minor", "penta_minor")),
    "jazz_251": (((2, "min7"), (7, "dom7"), (0, "maj7"), (0, "maj7")), (2, 4), ("major", "dorian")),
    "jazz_turnaround": (((0, "maj7"), (9, "dom7"), (2, "min7"), (7, "dom9")), (2, 4), ("major", "mixolydian")),
    "metal_phrygian": (((0, "pow"), (1, "pow"), (0, "pow"), (10, "pow")), (2, 4), ("phrygian", "penta_minor")),
    "metal_minor": (((0, "pow"), (8, "pow"), (10, "pow"), (0, "pow")), (4,), ("minor", "penta_minor")),
    "reggae_major": (((0, "maj"), (5, "maj")), (4, 8), ("major", "penta_major")),
    "reggae_minor": (((0, "min"), (5, "min"), (0, "min"), (10, "maj")), (4,), ("minor", "dorian")),
    "rock_mixo": (((0, "maj"), (10, "maj"), (5, "maj"), (0, "maj")), (4,), ("mixolydian", "penta_minor")),
    "rock_145": (((0, "maj"), (5, "maj"), (7, "maj"), (5, "maj")), (4,), ("major", "penta_minor")),
}


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


# ---------------------------------------------------------------------------------------
# Instruments


@dataclass
class _Inst:
    table: np.ndarray
    attack: float
    tau: float          # decay time constant of the body (s)
    sustain: float      # level the decay settles to
    release: float
    vib_rate: float = 0.0
    vib_depth: float = 0.0  # relative frequency deviation
    detune: float = 0.0     # cents of a second, detuned voice (0 = single voice)
    drive: float = 0.0      # tanh distortion of the whole part (0 = clean)
    lowpass: float = 0.0    # one-pole low-pass of the part in Hz (0 = none)


def _table(amps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k = np.arange(1, len(amps) + 1)
    phase = rng.uniform(0, 2 * np.pi, len(amps))
    x = np.arange(_TABLE) / _TABLE
    tab = np.sin(2 * np.pi * np.outer(x, k) + phase) @ amps
    return (tab / (np.abs(tab).max() + 1e-9)).astype(np.float32)


def _jitter(amps, rng, spread=0.25):
    amps = np.asarray(amps, dtype=np.float64)
    return amps * rng.uniform(1 - spread, 1 + spread, amps.shape)


def _make_inst(kind: str, rng: np.random.Generator) -> _Inst:
    u = rng.uniform
    k = np.arange(1, 25, dtype=np.float64)
    if kind == "piano":
        amps = _jitter(k[:14] ** -u(1.3, 1.9), rng)
        return _Inst(_table(amps, rng), 0.004, u(0.5, 1.2), 0.0, 0.12)
    if kind == "epiano":
        amps = _jitter(np.array([1, 0.25, 0.12, 0.05, 0.03, 0.02, u(0.05, 0.15)]), rng)
        return _Inst(_table(amps, rng), 0.004, u(0.6, 1.2), 0.05, 0.15, vib_rate=u(4, 6), vib_depth=u(0, 0.002))
    if kind == "organ":
        amps = np.zeros(8)
        amps[[0, 1, 2, 3, 5, 7]] = rng.uniform(0.2, 1.0, 6) * (rng.random(6) < 0.8)
        amps[0] = max(amps[0], 0.6)
        return _Inst(_table(amps, rng), 0.01, 10.0, 1.0, 0.05, vib_rate=u(5, 7), vib_depth=u(0, 0.004))
    if kind in ("clean_guitar", "crunch_guitar", "banjo", "harp"):
        pos = u(0.08, 0.25)
        slope = {"banjo": u(0.5, 0.8), "harp": u(1.5, 2.0)}.get(kind, u(0.9, 1.3))
        n = 10 if kind == "harp" else 20
        amps = _jitter(k[:n] ** -slope * np.abs(np.sin(np.pi * k[:n] * pos)) + 1e-3, rng)
        tau = {"banjo": u(0.12, 0.25), "harp": u(0.6, 1.2)}.get(kind, u(0.3, 0.7))
        inst = _Inst(_table(amps, rng), 0.003, tau, 0.0, 0.08)
        if kind == "crunch_guitar":
            inst.drive, inst.sustain, inst.lowpass = u(2.5, 6.0), 0.25, u(3500, 6000)
        return inst
    if kind == "dist_guitar":
        amps = _jitter(k[:16] ** -1.0, rng)
        return _Inst(_table(amps, rng), 0.004, u(0.4, 0.8), 0.7, 0.06, drive=u(8.0, 25.0), lowpass=u(3500, 6000))
    if kind in ("strings", "cello", "fiddle"):
        amps = _jitter(k[:20] ** -u(0.9, 1.3), rng)
        attack = {"fiddle": u(0.03, 0.08)}.get(kind, u(0.1, 0.35))
        return _Inst(_table(amps, rng), attack, 5.0, u(0.8, 1.0), u(0.1, 0.3), vib_rate=u(4.5, 6.5),
                     vib_depth=u(0.002, 0.006), detune=u(4, 12) if kind == "strings" else 0.0)
    if kind == "brass":
        amps = _jitter(k[:12] ** -u(0.6, 0.9), rng)
        return _Inst(_table(amps, rng), u(0.03, 0.07), 3.0, 0.8, 0.08, vib_rate=5.0, vib_depth=u(0, 0.003))
    if kind == "sax":
        amps = _jitter(k[:16] ** -1.0 * (1 + 1.5 * np.exp(-((k[:16] - 3) ** 2) / 2)), rng)
        return _Inst(_table(amps, rng), u(0.02, 0.05), 3.0, 0.85, 0.08, vib_rate=u(4.5, 6), vib_depth=u(0.002, 0.006))
    if kind in ("flute", "oboe"):
        base = [1, 0.15, 0.05, 0.02] if kind == "flute" else [1, 0.7, 0.9, 0.5, 0.3, 0.2, 0.1]
        return _Inst(_table(_jitter(base, rng), rng), u(0.04, 0.09), 4.0, 0.9, 0.1, vib_rate=u(4.5, 6),
                     vib_depth=u(0.002, 0.006))
    if kind == "synth_lead":
        odd_only = rng.random() < 0.5
        amps = k[:15] ** -1.0 * ((k[:15] % 2 == 1) if odd_only else 1.0)
        return _Inst(_table(_jitter(amps, rng), rng), 0.01, 2.0, 0.75, 0.08, detune=u(5, 15),
                     vib_rate=u(5, 6.5), vib_depth=u(0, 0.004), lowpass=u(2500, 8000))
    if kind == "synth_pad":
        amps = _jitter(k[:16] ** -1.2, rng)
        return _Inst(_table(amps, rng), u(0.2, 0.5), 5.0, 1.0, 0.4, detune=u(8, 20), lowpass=u(1500, 5000))
    if kind in ("finger_bass", "dist_bass"):
        amps = _jitter(np.array([1, 0.6, 0.3, 0.15, 0.08, 0.04]), rng)
        inst = _Inst(_table(amps, rng), 0.005, u(0.3, 0.8), 0.2, 0.06)
        if kind == "dist_bass":
            inst.drive, inst.lowpass = u(2.0, 5.0), u(2000, 4000)
        return inst
    if kind == "upright":
        amps = _jitter(np.array([1, 0.45, 0.2, 0.08, 0.03]), rng)
        return _Inst(_table(amps, rng), 0.008, u(0.25, 0.45), 0.0, 0.06)
    if kind == "synth_bass":
        amps = _jitter(k[:10] ** -1.2, rng)
        return _Inst(_table(amps, rng), 0.005, u(0.2, 0.5), 0.5, 0.05, lowpass=u(800, 2500))
    if kind == "sub808":
        return _Inst(_table(np.array([1.0, u(0.0, 0.15), u(0.0, 0.05)]), rng), 0.002, u(0.6, 1.5), 0.0, 0.1)
    raise KeyError(kind)  # pragma: no cover - the style tables only name the kinds above


_INST_KINDS = ("piano", "epiano", "organ", "clean_guitar", "crunch_guitar", "banjo", "harp", "dist_guitar",
               "strings", "cello", "fiddle", "brass", "sax", "flute", "oboe", "synth_lead", "synth_pad",
               "finger_bass", "dist_bass", "upright", "synth_bass", "sub808")


class _Render:
    """Note rendering into one part buffer (one instrument)."""

    def __init__(self, n: int, sr: int, rng: np.random.Generator) -> None:
        self.n, self.sr, self.rng = n, sr, rng
        self.t = np.arange(n, dtype=np.float32) / sr  # shared time axis; notes never outlast the clip

    def notes(self, inst: _Inst, events) -> np.ndarray:
        sr, n, t_all = self.sr, self.n, self.t
        buf = np.zeros(n, dtype=np.float32)
        for onset, dur, midi, vel in events:
            i0 = int(round(onset * sr))
            length = int((dur + inst.release * 3) * sr)
            if i0 >= n or i0 + length <= 0 or vel <= 0:
                continue
            skip = max(0, -i0)
            i1 = min(n, i0 + length)
            # Notes that started before the clip need time values beyond the shared axis.
            t = t_all[skip: i1 - i0] if i1 - i0 <= t_all.size else np.arange(skip, i1 - i0, dtype=np.float32) / sr
            f = 440.0 * 2.0 ** ((midi - 69) / 12.0)
            env = np.minimum(t / inst.attack, 1.0)
            if inst.sustain < 1.0:
                env *= inst.sustain + (1.0 - inst.sustain) * np.exp(-t / inst.tau)
            after = t > dur
            if after.any():
                env[after] *= np.exp(-(t[after] - dur) / inst.release)
            voices = ((f, 1.0),) if inst.detune == 0 else ((f, 0.6), (f * 2 ** (inst.detune / 1200), 0.6))
            wave = np.zeros(t.shape, np.float32)
            for fv, gv in voices:
                phase = fv * t + self.rng.random()
                if inst.vib_depth:
                    rate = inst.vib_rate
                    phase = phase + (fv * inst.vib_depth / (2 * np.pi * rate)) * (1 - np.cos(2 * np.pi * rate * t))
                idx = (phase * _TABLE).astype(np.int64) & (_TABLE - 1)
                wave += gv * inst.table[idx]
            buf[i0 + skip: i1] += vel * env * wave
        return self._colour(buf, inst)

    def _colour(self, buf: np.ndarray, inst: _Inst) -> np.ndarray:
        if inst.drive:
            peak = np.abs(buf).max()
            if peak > 0:
                buf = np.tanh(inst.drive * buf / peak) / np.tanh(inst.drive)
        if inst.lowpass:
            buf = _lowpass(buf, inst.lowpass, self.sr)
        return buf.astype(np.float32, copy=False)


def _lowpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(order, min(cutoff, 0.45 * sr), btype="low", fs=sr, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def _highpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(order, cutoff, btype="high", fs=sr, output="sos")
    return sosfilt(sos, x).astype(np.float32)


# ---------------------------------------------------------------------------------------
# Drums


def _drum_kit(kit: str, voices, sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One-shot samples of the drum ``voices`` a pattern uses, tuned per clip."""
    u = rng.uniform

    def tt(sec):
        return np.arange(int(sec * sr), dtype=np.float32) / sr

    def noise(sec):
        return rng.standard_normal(int(sec * sr), dtype=np.float32)

    def hp_noise(sec, cutoff):
        return _highpass(noise(sec), cutoff, sr)

    def kick():  # a sine sweeping down, plus a click
        kd = {"electronic": u(0.4, 0.9), "jazz": u(0.15, 0.25), "metal": u(0.12, 0.2)}.get(kit, u(0.2, 0.35))
        t = tt(kd * 4)
        freq = u(40, 60) + u(60, 120) * np.exp(-t / u(0.02, 0.05))
        click = {"metal": u(0.4, 0.8), "electronic": u(0.0, 0.2)}.get(kit, u(0.1, 0.3))
        return (np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / kd)
                + click * noise(kd * 4) * np.exp(-t / 0.004))

    def snare():  # tone + high-passed noise
        sd = u(0.08, 0.2)
        t = tt(sd * 4)
        return (0.5 * np.sin(2 * np.pi * u(160, 240) * t) * np.exp(-t / 0.04)
                + hp_noise(sd * 4, u(800, 2500)) * np.exp(-t / sd))

    def clap():
        t = tt(0.4)
        bursts = sum(np.exp(-np.maximum(t - d, 0) / 0.008) * (t >= d) for d in (0.0, 0.011, 0.022))
        return hp_noise(0.4, u(900, 1600)) * (0.5 * bursts + np.exp(-t / u(0.08, 0.15)))

    def rim():
        t = tt(0.15)
        return (np.sin(2 * np.pi * u(700, 1000) * t) * np.exp(-t / 0.012)
                + 0.5 * hp_noise(0.15, 2000) * np.exp(-t / 0.01))

    def hat(scale=0.6):
        hd = u(0.02, 0.06)
        return hp_noise(hd * 5, u(6000, 9000)) * np.exp(-tt(hd * 5) / hd) * scale

    def open_hat():
        return hp_noise(0.8, u(5000, 8000)) * np.exp(-tt(0.8) / u(0.15, 0.3)) * 0.5

    def ride():  # inharmonic partials over a noise wash
        t = tt(1.5)
        partials = sum(np.sin(2 * np.pi * f * t + u(0, 6.3)) for f in u(2500, 8000, 6))
        return (0.15 * partials + hp_noise(1.5, 4000)) * np.exp(-t / u(0.3, 0.7)) * 0.35

    def crash():
        return hp_noise(2.0, u(3000, 5000)) * np.exp(-tt(2.0) / u(0.5, 1.0)) * 0.5

    def brush():
        t = tt(0.3)
        return _lowpass(noise(0.3), u(3000, 6000), sr) * np.minimum(t / 0.02, 1) * np.exp(-t / 0.08) * 0.4

    makers = {"kick": kick, "snare": snare, "clap": clap, "rim": rim, "hat": hat, "open_hat": open_hat,
              "pedal_hat": lambda: hat(0.35), "ride": ride, "crash": crash, "brush": brush}
    return {v: makers[v]().astype(np.float32) for v in voices}


# ---------------------------------------------------------------------------------------
# Arrangement


@dataclass
class _Grid:
    beat: float
    swing: float
    offset: float
    bars: int
    jitter: float
    rng: np.random.Generator

    def time(self, bar: int, step: int) -> float:
        q, r = divmod(step, 4)
        s = self.swing
        frac = (0.0, s / 2, s, s + (1 - s) / 2)[r]
        return self.offset + (bar * 4 + q + frac) * self.beat + self.rng.normal(0, self.jitter)


class _Harmony:
    def __init__(self, name: str, key: int, rng: np.random.Generator) -> None:
        chords, beat_choices, scales = _HARMONY[name]
        self.chords = chords
        self.beats = int(rng.choice(beat_choices))
        self.start = int(rng.integers(len(chords)))
        self.key = key
        self.scale = _SCALES[str(rng.choice(scales))]

    def chord(self, bar: int, step: int) -> tuple[int, tuple[int, ...]]:
        """(root pitch class, intervals) of the chord sounding at ``bar``/``step``."""
        beat = bar * 4 + step // 4
        root, quality = self.chords[(self.start + beat // self.beats) % len(self.chords)]
        return (self.key + root) % 12, _QUALITY[quality]

    def scale_notes(self, low: int, high: int) -> np.ndarray:
        return np.array([m for m in range(low, high + 1) if (m - self.key) % 12 in self.scale])


def _place(pc: int, centre: int) -> int:
    """The MIDI note of pitch class ``pc`` closest to ``centre``."""
    return centre + ((pc - centre + 6) % 12) - 6


def _bass_events(style, g: _Grid, h: _Harmony, rng, centre):
    ev = []
    b = g.beat
    for bar in range(g.bars):
        for step in range(0, 16):
            pc, iv = h.chord(bar, step)
            root = _place(pc, centre)
            fifth = root + 7 if root + 7 <= centre + 9 else root - 5
            v = rng.uniform(0.75, 1.0)
            if style == "root_quarters" and step % 4 == 0:
                ev.append((g.time(bar, step), 0.85 * b, root, v))
            elif style == "root_halves" and step % 8 == 0:
                ev.append((g.time(bar, step), 1.8 * b, root, v))
            elif style == "sustain" and step == 0:
                ev.append((g.time(bar, step), 3.9 * b, root, v))
            elif style == "walking" and step % 4 == 0:
                q = step // 4
                if q == 0:
                    note = root
                elif q == 3:  # approach the next chord from a semitone away
                    nxt = _place(h.chord(bar + 1, 0)[0], centre)
                    note = nxt + int(rng.choice((-1, 1)))
                else:
                    note = root + int(rng.choice([iv[1], iv[2], 12 if q == 2 else iv[1], 2, 5]))
                ev.append((g.time(bar, step), 0.9 * b, note, v))
            elif style == "boogie" and step % 2 == 0:
                seq = (0, 4, 7, 9, 10, 9, 7, 4)
                ev.append((g.time(bar, step), 0.45 * b, root + seq[step // 2], v))
            elif style == "octaves8" and step % 2 == 0:
                ev.append((g.time(bar, step), 0.4 * b, root + (12 if step % 4 == 2 else 0), v))
            elif style == "root8" and step % 2 == 0:
                ev.append((g.time(bar, step), 0.4 * b, root, v))
            elif style == "root16":
                ev.append((g.time(bar, step), 0.22 * b, root, v))
            elif style == "two_beat" and step % 8 == 0:
                ev.append((g.time(bar, step), 0.9 * b, root if step == 0 else fifth, v))
            elif style == "sub_sync" and step in (0, 3, 7, 10):
                ev.append((g.time(bar, step), 1.2 * b, root - 12 if root > centre else root, v))
            elif style == "reggae_bass" and step in (2, 3, 6, 10, 11, 14):
                note = root + (int(rng.choice((0, 0, 7, 12, iv[1]))))
                ev.append((g.time(bar, step), 0.5 * b, note, v))
    return ev


def _chord_notes(pc, iv, centre, power=False):
    root = _place(pc, centre)
    return [root + i for i in (iv if not power else (0, 7, 12))]


def _comp_events(style, g: _Grid, h: _Harmony, rng, centre):
    ev = []
    b = g.beat
    power = style.startswith("power")

    def chord(bar, step, dur, vel, strum=0.0):
        pc, iv = h.chord(bar, step)
        t0 = g.time(bar, step)
        for j, m in enumerate(_chord_notes(pc, iv, centre, power)):
            ev.append((t0 + j * strum, dur, m, vel))

    for bar in range(g.bars):
        stabs = set(rng.choice([2, 3, 6, 7, 10, 11, 14], size=3, replace=False).tolist())
        comp = set(rng.choice([0, 2, 3, 5, 6, 8, 10, 11, 14], size=int(rng.integers(2, 4)), replace=False).tolist())
        for step in range(16):
            v = rng.uniform(0.6, 1.0)
            if style == "sustain" and step % 16 == 0:
                chord(bar, step, 3.9 * b, v)
            elif style == "halfnotes" and step % 8 == 0:
                chord(bar, step, 1.8 * b, v)
            elif style == "strum8" and step % 2 == 0:
                chord(bar, step, 0.45 * b, v * (1.0 if step % 4 == 0 else 0.7), strum=rng.uniform(0.004, 0.015))
            elif style == "strum16":
                chord(bar, step, 0.2 * b, v * (1.0 if step % 4 == 2 else 0.5), strum=0.004)
            elif style == "power8" and step % 2 == 0:
                chord(bar, step, 0.35 * b, v)
            elif style == "power16":
                chord(bar, step, 0.2 * b, v)
            elif style == "power_sustain" and step % 8 == 0:
                chord(bar, step, 1.9 * b, v)
            elif style == "skank" and step in (4, 12):
                chord(bar, step, 0.25 * b, v, strum=0.006)
            elif style == "skank8" and step in (2, 6, 10, 14):
                chord(bar, step, 0.2 * b, v, strum=0.004)
            elif style == "stabs" and step in stabs:
                chord(bar, step, 0.3 * b, v)
            elif style == "jazz_comp" and step in comp:
                chord(bar, step, rng.uniform(0.3, 1.2) * b, v * 0.8)
            elif style in ("arp8", "arp16") and (style == "arp16" or step % 2 == 0):
                pc, iv = h.chord(bar, step)
                notes = _chord_notes(pc, iv, centre) + [_place(pc, centre) + 12]
                k = (step // (1 if style == "arp16" else 2)) % (2 * len(notes) - 2)
                m = notes[k] if k < len(notes) else notes[2 * len(notes) - 2 - k]
                ev.append((g.time(bar, step), (0.3 if style == "arp16" else 0.55) * b, m, v))
            elif style == "shuffle_riff" and step % 2 == 0:
                pc, _ = h.chord(bar, step)
                root = _place(pc, centre - 12)
                top = 7 if (step // 4) % 2 == 0 else 9
                for m in (root, root + top):
                    ev.append((g.time(bar, step), 0.45 * b, m, v))
    return ev


def _lead_events(style, g: _Grid, h: _Harmony, rng, centre):
    if style == "none":
        return []
    scale = h.scale_notes(centre - 10, centre + 14)
    if style == "bluesy":
        scale = np.array([m for m in range(centre - 10, centre + 15) if (m - h.key) % 12 in _SCALES["blues"]])
    step_len, rest_p, dur_choices = {
        "melody": (2, 0.3, (1, 1, 2, 2, 3, 4)),
        "legato": (2, 0.15, (2, 4, 4, 6, 8)),
        "bluesy": (2, 0.35, (1, 2, 2, 3, 6)),
        "bebop": (2, 0.15, (1, 1, 1, 2)),
        "fast": (1, 0.1, (1, 1, 1, 2)),
        "sparse": (4, 0.5, (2, 4, 4, 8)),
    }[style]
    ev = []
    idx = len(scale) // 2
    total = g.bars * 16
    s = 0
    while s < total:
        d = int(rng.choice(dur_choices)) * step_len
        if rng.random() >= rest_p:
            idx = int(np.clip(idx + rng.choice((-2, -1, -1, 1, 1, 2, 0, 3, -3)), 0, len(scale) - 1))
            bar, step = divmod(s, 16)
            ev.append((g.time(bar, step), d * g.beat / 4 * 0.95, int(scale[idx]), rng.uniform(0.7, 1.0)))
        s += d
    return ev


def _drum_part(pattern: str, kit: dict, g: _Grid, n: int, sr: int, rng) -> np.ndarray:
    buf = np.zeros(n, dtype=np.float32)
    pat = _PATTERNS[pattern]
    for voice, hits in pat.items():
        sample = kit[voice]
        for bar in range(g.bars):
            for step, vel in hits:
                if rng.random() < 0.05:  # a dropped hit now and then
                    continue
                i0 = int(round(g.time(bar, step) * sr))
                if i0 >= n or i0 + len(sample) <= 0:
                    continue
                s0 = max(0, -i0)
                i1 = min(n, i0 + len(sample))
                buf[i0 + s0: i1] += vel * rng.uniform(0.8, 1.0) * sample[s0: i1 - i0]
    return buf


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.dot(x, x) / max(x.size, 1)) + 1e-12)


def _coloured_noise(n: int, tilt: float, sr: int, rng) -> np.ndarray:
    """Unit-RMS noise between white (``tilt=0``) and low-passed "brown" (``tilt=1``)."""
    white = rng.standard_normal(n, dtype=np.float32)
    dark = _lowpass(rng.standard_normal(n, dtype=np.float32), rng.uniform(200, 2000), sr, order=1)
    noise = (1 - tilt) * white / _rms(white) + tilt * dark / _rms(dark)
    return noise / _rms(noise)


def _reverb(x: np.ndarray, wet: float, sr: int, rng) -> np.ndarray:
    """Mix in ``x`` convolved with an exponentially decaying noise burst (a cheap room)."""
    if wet <= 0:
        return x
    from scipy import fft

    decay = rng.uniform(0.1, 0.5)
    ir = rng.standard_normal(int(decay * 2.5 * sr), dtype=np.float32)
    ir *= np.exp(-np.arange(ir.size, dtype=np.float32) / (decay * sr))
    size = fft.next_fast_len(x.size + ir.size, real=True)
    tail = fft.irfft(fft.rfft(x, size) * fft.rfft(ir, size), size)[: x.size].astype(np.float32)
    return (1 - wet) * x + wet * tail * (_rms(x) / _rms(tail))


def _pick(choices, rng):
    # The first choice is the genre's typical one; the others are variations.
    if rng.random() < TYPICAL_PROBABILITY:
        return choices[0]
    return choices[int(rng.integers(len(choices)))]


def _draw_style(genre: str, rng: np.random.Generator) -> dict:
    """The clip's components: its genre's, each swapped for a neighbour's with some probability."""
    style = dict(_STYLES[genre])
    for comp in _BORROWABLE:
        if rng.random() < BORROW_PROBABILITY:
            style[comp] = _STYLES[_pick(_NEIGHBOURS[genre], rng)][comp]
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
    if genre not in _STYLES:
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
    grid = _Grid(beat, swing, offset, int(np.ceil((seconds - offset) / (4 * beat))) + 1, 0.006, rng)
    harmony = _Harmony(_pick(style["harmony"], rng), int(rng.integers(12)), rng)
    render = _Render(n, sr, rng)

    parts: list[tuple[np.ndarray, float]] = []
    pattern = _pick(style["drums"], rng)
    if pattern != "none":
        kit = _drum_kit(_pick(style["kit"], rng), _PATTERNS[pattern], sr, rng)
        parts.append((_drum_part(pattern, kit, grid, n, sr, rng), rng.uniform(*style["mix"][0])))
    bass_centre = int(rng.integers(*style["register"][0]))
    parts.append((render.notes(_make_inst(_pick(style["bass_inst"], rng), rng),
                               _bass_events(_pick(style["bass"], rng), grid, harmony, rng, bass_centre)),
                  rng.uniform(*style["mix"][1])))
    comp_centre = int(rng.integers(*style["register"][1]))
    parts.append((render.notes(_make_inst(_pick(style["comp_inst"], rng), rng),
                               _comp_events(_pick(style["comp"], rng), grid, harmony, rng, comp_centre)),
                  rng.uniform(*style["mix"][2])))
    lead = _pick(style["lead"], rng)
    if lead != "none":
        lead_centre = int(rng.integers(*style["register"][2]))
        parts.append((render.notes(_make_inst(_pick(style["lead_inst"], rng), rng),
                                   _lead_events(lead, grid, harmony, rng, lead_centre)),
                      rng.uniform(*style["mix"][3])))

    mix = np.zeros(n, dtype=np.float32)
    for part, gain_db in parts:
        level = _rms(part)
        if level > 1e-9:
            mix += part * (10 ** (gain_db / 20) / level)
    mix = _reverb(mix, rng.uniform(*style["reverb"]), sr, rng)
    # Recording chain: band limits, then a noise floor of random colour and level.
    mix = _lowpass(mix, rng.uniform(*style["lowpass"]), sr)
    mix = _highpass(mix, rng.uniform(25, 150), sr)
    snr_db = rng.uniform(*style["snr"]) + SNR_OFFSET_DB
    mix += _coloured_noise(n, rng.uniform(0, 1), sr, rng) * (_rms(mix) / 10 ** (snr_db / 20))
    if rng.random() < (0.6 if genre == "hiphop" else 0.1):
        crackle = (rng.random(n) < rng.uniform(20, 80) / sr) * rng.standard_normal(n) * 4 * _rms(mix)
        mix += crackle.astype(np.float32)
    peak = np.abs(mix).max()
    return (0.9 * mix / peak if peak > 0 else mix).astype(np.float32)
