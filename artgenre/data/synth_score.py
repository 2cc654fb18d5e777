"""Arrangement of the synthetic dataset (internal to `artgenre.data.synth`).

The timing grid (tempo, swing, jitter), the chord progression of a clip, and the note events
of the bass, comping and lead parts and of the drum part. Like the sound sources, these draw
from the clip's generator in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artgenre.data.synth_styles import HARMONY, PATTERNS, QUALITY, SCALES

# ---------------------------------------------------------------------------------------
# Arrangement


@dataclass
class Grid:
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


class Harmony:
    def __init__(self, name: str, key: int, rng: np.random.Generator) -> None:
        chords, beat_choices, scales = HARMONY[name]
        self.chords = chords
        self.beats = int(rng.choice(beat_choices))
        self.start = int(rng.integers(len(chords)))
        self.key = key
        self.scale = SCALES[str(rng.choice(scales))]

    def chord(self, bar: int, step: int) -> tuple[int, tuple[int, ...]]:
        """(root pitch class, intervals) of the chord sounding at ``bar``/``step``."""
        beat = bar * 4 + step // 4
        root, quality = self.chords[(self.start + beat // self.beats) % len(self.chords)]
        return (self.key + root) % 12, QUALITY[quality]

    def scale_notes(self, low: int, high: int) -> np.ndarray:
        return np.array([m for m in range(low, high + 1) if (m - self.key) % 12 in self.scale])


def place(pc: int, centre: int) -> int:
    """The MIDI note of pitch class ``pc`` closest to ``centre``."""
    return centre + ((pc - centre + 6) % 12) - 6


def bass_events(style, g: Grid, h: Harmony, rng, centre):
    ev = []
    b = g.beat
    for bar in range(g.bars):
        for step in range(0, 16):
            pc, iv = h.chord(bar, step)
            root = place(pc, centre)
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
                    nxt = place(h.chord(bar + 1, 0)[0], centre)
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


def chord_notes(pc, iv, centre, power=False):
    root = place(pc, centre)
    return [root + i for i in (iv if not power else (0, 7, 12))]


def comp_events(style, g: Grid, h: Harmony, rng, centre):
    ev = []
    b = g.beat
    power = style.startswith("power")

    def chord(bar, step, dur, vel, strum=0.0):
        pc, iv = h.chord(bar, step)
        t0 = g.time(bar, step)
        for j, m in enumerate(chord_notes(pc, iv, centre, power)):
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
                notes = chord_notes(pc, iv, centre) + [place(pc, centre) + 12]
                k = (step // (1 if style == "arp16" else 2)) % (2 * len(notes) - 2)
                m = notes[k] if k < len(notes) else notes[2 * len(notes) - 2 - k]
                ev.append((g.time(bar, step), (0.3 if style == "arp16" else 0.55) * b, m, v))
            elif style == "shuffle_riff" and step % 2 == 0:
                pc, _ = h.chord(bar, step)
                root = place(pc, centre - 12)
                top = 7 if (step // 4) % 2 == 0 else 9
                for m in (root, root + top):
                    ev.append((g.time(bar, step), 0.45 * b, m, v))
    return ev


def lead_events(style, g: Grid, h: Harmony, rng, centre):
    if style == "none":
        return []
    scale = h.scale_notes(centre - 10, centre + 14)
    if style == "bluesy":
        scale = np.array([m for m in range(centre - 10, centre + 15) if (m - h.key) % 12 in SCALES["blues"]])
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


def drum_part(pattern: str, kit: dict, g: Grid, n: int, sr: int, rng) -> np.ndarray:
    buf = np.zeros(n, dtype=np.float32)
    pat = PATTERNS[pattern]
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
