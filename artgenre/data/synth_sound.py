"""Sound sources of the synthetic dataset (internal to `artgenre.data.synth`).

Wavetable instruments and their note renderer, drum one-shots, filters, and the mixing stages
(RMS, coloured noise, reverb). Every function draws from the generator it is given, in a fixed
order: changing that order changes the clips (bump `artgenre.data.synth.SYNTH_VERSION`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TABLE = 4096  # wavetable length (power of two: phase wraps with a bit mask)

# ---------------------------------------------------------------------------------------
# Instruments


@dataclass
class Inst:
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
    x = np.arange(TABLE) / TABLE
    tab = np.sin(2 * np.pi * np.outer(x, k) + phase) @ amps
    return (tab / (np.abs(tab).max() + 1e-9)).astype(np.float32)


def _jitter(amps, rng, spread=0.25):
    amps = np.asarray(amps, dtype=np.float64)
    return amps * rng.uniform(1 - spread, 1 + spread, amps.shape)


def make_inst(kind: str, rng: np.random.Generator) -> Inst:
    u = rng.uniform
    k = np.arange(1, 25, dtype=np.float64)
    if kind == "piano":
        amps = _jitter(k[:14] ** -u(1.3, 1.9), rng)
        return Inst(_table(amps, rng), 0.004, u(0.5, 1.2), 0.0, 0.12)
    if kind == "epiano":
        amps = _jitter(np.array([1, 0.25, 0.12, 0.05, 0.03, 0.02, u(0.05, 0.15)]), rng)
        return Inst(_table(amps, rng), 0.004, u(0.6, 1.2), 0.05, 0.15, vib_rate=u(4, 6), vib_depth=u(0, 0.002))
    if kind == "organ":
        amps = np.zeros(8)
        amps[[0, 1, 2, 3, 5, 7]] = rng.uniform(0.2, 1.0, 6) * (rng.random(6) < 0.8)
        amps[0] = max(amps[0], 0.6)
        return Inst(_table(amps, rng), 0.01, 10.0, 1.0, 0.05, vib_rate=u(5, 7), vib_depth=u(0, 0.004))
    if kind in ("clean_guitar", "crunch_guitar", "banjo", "harp"):
        pos = u(0.08, 0.25)
        slope = {"banjo": u(0.5, 0.8), "harp": u(1.5, 2.0)}.get(kind, u(0.9, 1.3))
        n = 10 if kind == "harp" else 20
        amps = _jitter(k[:n] ** -slope * np.abs(np.sin(np.pi * k[:n] * pos)) + 1e-3, rng)
        tau = {"banjo": u(0.12, 0.25), "harp": u(0.6, 1.2)}.get(kind, u(0.3, 0.7))
        inst = Inst(_table(amps, rng), 0.003, tau, 0.0, 0.08)
        if kind == "crunch_guitar":
            inst.drive, inst.sustain, inst.lowpass = u(2.5, 6.0), 0.25, u(3500, 6000)
        return inst
    if kind == "dist_guitar":
        amps = _jitter(k[:16] ** -1.0, rng)
        return Inst(_table(amps, rng), 0.004, u(0.4, 0.8), 0.7, 0.06, drive=u(8.0, 25.0), lowpass=u(3500, 6000))
    if kind in ("strings", "cello", "fiddle"):
        amps = _jitter(k[:20] ** -u(0.9, 1.3), rng)
        attack = {"fiddle": u(0.03, 0.08)}.get(kind, u(0.1, 0.35))
        return Inst(_table(amps, rng), attack, 5.0, u(0.8, 1.0), u(0.1, 0.3), vib_rate=u(4.5, 6.5),
                     vib_depth=u(0.002, 0.006), detune=u(4, 12) if kind == "strings" else 0.0)
    if kind == "brass":
        amps = _jitter(k[:12] ** -u(0.6, 0.9), rng)
        return Inst(_table(amps, rng), u(0.03, 0.07), 3.0, 0.8, 0.08, vib_rate=5.0, vib_depth=u(0, 0.003))
    if kind == "sax":
        amps = _jitter(k[:16] ** -1.0 * (1 + 1.5 * np.exp(-((k[:16] - 3) ** 2) / 2)), rng)
        return Inst(_table(amps, rng), u(0.02, 0.05), 3.0, 0.85, 0.08, vib_rate=u(4.5, 6), vib_depth=u(0.002, 0.006))
    if kind in ("flute", "oboe"):
        base = [1, 0.15, 0.05, 0.02] if kind == "flute" else [1, 0.7, 0.9, 0.5, 0.3, 0.2, 0.1]
        return Inst(_table(_jitter(base, rng), rng), u(0.04, 0.09), 4.0, 0.9, 0.1, vib_rate=u(4.5, 6),
                     vib_depth=u(0.002, 0.006))
    if kind == "synth_lead":
        odd_only = rng.random() < 0.5
        amps = k[:15] ** -1.0 * ((k[:15] % 2 == 1) if odd_only else 1.0)
        return Inst(_table(_jitter(amps, rng), rng), 0.01, 2.0, 0.75, 0.08, detune=u(5, 15),
                     vib_rate=u(5, 6.5), vib_depth=u(0, 0.004), lowpass=u(2500, 8000))
    if kind == "synth_pad":
        amps = _jitter(k[:16] ** -1.2, rng)
        return Inst(_table(amps, rng), u(0.2, 0.5), 5.0, 1.0, 0.4, detune=u(8, 20), lowpass=u(1500, 5000))
    if kind in ("finger_bass", "dist_bass"):
        amps = _jitter(np.array([1, 0.6, 0.3, 0.15, 0.08, 0.04]), rng)
        inst = Inst(_table(amps, rng), 0.005, u(0.3, 0.8), 0.2, 0.06)
        if kind == "dist_bass":
            inst.drive, inst.lowpass = u(2.0, 5.0), u(2000, 4000)
        return inst
    if kind == "upright":
        amps = _jitter(np.array([1, 0.45, 0.2, 0.08, 0.03]), rng)
        return Inst(_table(amps, rng), 0.008, u(0.25, 0.45), 0.0, 0.06)
    if kind == "synth_bass":
        amps = _jitter(k[:10] ** -1.2, rng)
        return Inst(_table(amps, rng), 0.005, u(0.2, 0.5), 0.5, 0.05, lowpass=u(800, 2500))
    if kind == "sub808":
        return Inst(_table(np.array([1.0, u(0.0, 0.15), u(0.0, 0.05)]), rng), 0.002, u(0.6, 1.5), 0.0, 0.1)
    raise KeyError(kind)  # pragma: no cover - the style tables only name the kinds above


class Render:
    """Note rendering into one part buffer (one instrument)."""

    def __init__(self, n: int, sr: int, rng: np.random.Generator) -> None:
        self.n, self.sr, self.rng = n, sr, rng
        self.t = np.arange(n, dtype=np.float32) / sr  # shared time axis; notes never outlast the clip

    def notes(self, inst: Inst, events) -> np.ndarray:
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
                idx = (phase * TABLE).astype(np.int64) & (TABLE - 1)
                wave += gv * inst.table[idx]
            buf[i0 + skip: i1] += vel * env * wave
        return self._colour(buf, inst)

    def _colour(self, buf: np.ndarray, inst: Inst) -> np.ndarray:
        if inst.drive:
            peak = np.abs(buf).max()
            if peak > 0:
                buf = np.tanh(inst.drive * buf / peak) / np.tanh(inst.drive)
        if inst.lowpass:
            buf = lowpass(buf, inst.lowpass, self.sr)
        return buf.astype(np.float32, copy=False)


def lowpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(order, min(cutoff, 0.45 * sr), btype="low", fs=sr, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def highpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(order, cutoff, btype="high", fs=sr, output="sos")
    return sosfilt(sos, x).astype(np.float32)


# ---------------------------------------------------------------------------------------
# Drums


def drum_kit(kit: str, voices, sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One-shot samples of the drum ``voices`` a pattern uses, tuned per clip."""
    u = rng.uniform

    def tt(sec):
        return np.arange(int(sec * sr), dtype=np.float32) / sr

    def noise(sec):
        return rng.standard_normal(int(sec * sr), dtype=np.float32)

    def hp_noise(sec, cutoff):
        return highpass(noise(sec), cutoff, sr)

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
        return lowpass(noise(0.3), u(3000, 6000), sr) * np.minimum(t / 0.02, 1) * np.exp(-t / 0.08) * 0.4

    makers = {"kick": kick, "snare": snare, "clap": clap, "rim": rim, "hat": hat, "open_hat": open_hat,
              "pedal_hat": lambda: hat(0.35), "ride": ride, "crash": crash, "brush": brush}
    return {v: makers[v]().astype(np.float32) for v in voices}


# ---------------------------------------------------------------------------------------
# Mixing


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.dot(x, x) / max(x.size, 1)) + 1e-12)


def coloured_noise(n: int, tilt: float, sr: int, rng) -> np.ndarray:
    """Unit-RMS noise between white (``tilt=0``) and low-passed "brown" (``tilt=1``)."""
    white = rng.standard_normal(n, dtype=np.float32)
    dark = lowpass(rng.standard_normal(n, dtype=np.float32), rng.uniform(200, 2000), sr, order=1)
    noise = (1 - tilt) * white / rms(white) + tilt * dark / rms(dark)
    return noise / rms(noise)


def reverb(x: np.ndarray, wet: float, sr: int, rng) -> np.ndarray:
    """Mix in ``x`` convolved with an exponentially decaying noise burst (a cheap room)."""
    if wet <= 0:
        return x
    from scipy import fft

    decay = rng.uniform(0.1, 0.5)
    ir = rng.standard_normal(int(decay * 2.5 * sr), dtype=np.float32)
    ir *= np.exp(-np.arange(ir.size, dtype=np.float32) / (decay * sr))
    size = fft.next_fast_len(x.size + ir.size, real=True)
    tail = fft.irfft(fft.rfft(x, size) * fft.rfft(ir, size), size)[: x.size].astype(np.float32)
    return (1 - wet) * x + wet * tail * (rms(x) / rms(tail))
