"""Style tables of the synthetic dataset (internal to `artgenre.data.synth`).

What each genre draws from (tempo, drum patterns, kits, bass / comping / lead styles and
instruments, progressions, mix settings), the neighbours it may borrow from, the drum patterns
and the chord, scale and progression tables. Changing any value changes the generated clips:
bump `artgenre.data.synth.SYNTH_VERSION`.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------
# Styles. Each entry lists the choices a clip draws from; `NEIGHBOURS` says whose choices a
# clip may borrow instead.

STYLES: dict[str, dict] = {
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

NEIGHBOURS: dict[str, tuple[str, ...]] = {
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

BORROWABLE = ("tempo", "drums", "kit", "bass", "bass_inst", "comp", "comp_inst", "lead", "lead_inst", "harmony",
               "lowpass", "snr", "mix", "register")

# Drum patterns on a 16-step bar: voice -> ((step, velocity), ...).
_EIGHTHS = tuple((s, 0.8 if s % 4 == 0 else 0.55) for s in range(0, 16, 2))
_SIXTEENTHS = tuple((s, 0.7 if s % 4 == 0 else 0.4) for s in range(16))
PATTERNS: dict[str, dict[str, tuple]] = {
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
QUALITY: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dom7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10), "dim": (0, 3, 6), "pow": (0, 7, 12), "dom9": (0, 4, 10, 14),
}
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "harmonic": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10), "mixolydian": (0, 2, 4, 5, 7, 9, 10), "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "blues": (0, 3, 5, 6, 7, 10), "penta_major": (0, 2, 4, 7, 9), "penta_minor": (0, 3, 5, 7, 10),
}
# Progression name -> (chords as (root offset, quality), beats per chord, scales for melodies).
HARMONY: dict[str, tuple[tuple[tuple[int, str], ...], tuple[int, ...], tuple[str, ...]]] = {
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
