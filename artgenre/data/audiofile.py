"""Decoding one audio file, and the checks that keep bad files out of the data.

A file is used only if

- libsndfile's detected container matches the extension (`ACCEPTED_FORMATS`): libsndfile
  opens almost any bytes as headerless ``RAW`` audio when the extension suggests a format it
  cannot find a header for, so random bytes named ``.au`` would otherwise decode to noise;
- its sample rate lies in `SAMPLE_RATE_RANGE`;
- at least `MIN_READ_FRACTION` of the frames its header announces could be read (libsndfile
  quietly shortens truncated WAV/AU files to what is there, so the header is read here);
- every decoded sample is finite.

Anything else raises `SkipTrack` with the reason, which the loaders list in
`Dataset.skipped`.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

# Extension -> libsndfile container names (``soundfile.info(path).format``) accepted for it.
ACCEPTED_FORMATS: dict[str, tuple[str, ...]] = {
    ".au": ("AU",),
    ".wav": ("WAV", "WAVEX", "RF64"),
    ".flac": ("FLAC",),
}
# Anything outside telephone (8 kHz) to high-resolution studio (192 kHz) rates is a bad header.
SAMPLE_RATE_RANGE: tuple[int, int] = (8_000, 192_000)
# A clip that yields less than this share of its header's frames is truncated.
MIN_READ_FRACTION = 0.9

# WAVE format tags whose block align is one frame (PCM, IEEE float, A-law, mu-law, extensible);
# for compressed tags a block holds many frames and the data size says nothing exact.
_WAV_FRAME_TAGS = (0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE)
# AU encodings -> bytes per sample (mu-law, PCM 8/16/24/32, float, double, A-law).
_AU_SAMPLE_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}
_UNKNOWN_SIZE = 0xFFFFFFFF
_MAX_CHUNKS = 256


class SkipTrack(Exception):
    """A file that cannot be used (undecodable, empty, too short); the message is the reason."""


def _wav_header_frames(fh) -> int | None:
    head = fh.read(12)
    if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX"):
        return None
    order = "<" if head[:4] == b"RIFF" else ">"
    block_align = None
    for _ in range(_MAX_CHUNKS):
        chunk = fh.read(8)
        if len(chunk) < 8:
            return None
        cid, size = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
        if cid == b"fmt ":
            fmt = fh.read(min(size, 16))
            if len(fmt) < 16:
                return None
            tag, block_align = struct.unpack(order + "H", fmt[:2])[0], struct.unpack(order + "H", fmt[12:14])[0]
            if tag not in _WAV_FRAME_TAGS:
                return None
            fh.seek(size - 16 + (size & 1), os.SEEK_CUR)
        elif cid == b"data":
            if not block_align or size in (0, _UNKNOWN_SIZE):  # streaming writers leave it open
                return None
            return size // block_align
        else:
            fh.seek(size + (size & 1), os.SEEK_CUR)
    return None


def _au_header_frames(fh) -> int | None:
    head = fh.read(24)
    if len(head) < 24 or head[:4] not in (b".snd", b".dns"):
        return None
    order = ">" if head[:4] == b".snd" else "<"
    _, size, encoding, _, channels = struct.unpack(order + "5I", head[4:24])
    width = _AU_SAMPLE_BYTES.get(encoding)
    if width is None or channels == 0 or size == _UNKNOWN_SIZE:
        return None
    return size // (width * channels)


# Container -> reader of the frame count its header announces (None: not stated exactly).
_HEADER_READERS = {"WAV": _wav_header_frames, "WAVEX": _wav_header_frames, "AU": _au_header_frames}


def header_frames(*, path: str | os.PathLike, container: str) -> int | None:
    """The number of frames a WAV or AU header announces, read from the raw header.

    Parameters
    ----------
    path : path
        The audio file.
    container : str
        libsndfile's container name for it (``"WAV"``, ``"AU"``, ...).

    Returns
    -------
    int or None
        None for other containers (FLAC states its length in STREAMINFO, which libsndfile
        reports as is), compressed encodings and headers that leave the size open.
    """
    reader = _HEADER_READERS.get(container)
    if reader is None:
        return None
    with open(path, "rb") as fh:
        return reader(fh)


def _open_checked(sf, path: Path):
    """Open ``path`` and check its container and rate; returns the open `soundfile.SoundFile`."""
    f = sf.SoundFile(str(path))
    try:
        suffix = path.suffix.lower()
        accepted = ACCEPTED_FORMATS.get(suffix)
        if accepted is not None and f.format not in accepted:
            raise SkipTrack(
                f"not {'an' if suffix[1] in 'aeiou' else 'a'} {accepted[0]} file: libsndfile detected "
                f"{f.format} ({f.format_info}); expected {' or '.join(accepted)} for '{suffix}'"
            )
        low, high = SAMPLE_RATE_RANGE
        if not low <= f.samplerate <= high:
            raise SkipTrack(
                f"implausible sample rate {f.samplerate} Hz in the header (accepted: {low}-{high} Hz)"
            )
        if f.channels < 1:
            raise SkipTrack(f"header declares {f.channels} channels")
    except BaseException:
        f.close()
        raise
    return f


def load_audio(*, path: str | os.PathLike, sr: int) -> np.ndarray:
    """Decode an audio file to a mono float32 waveform at ``sr`` Hz, after the module's checks.

    Parameters
    ----------
    path : path
        ``.au``, ``.wav`` or ``.flac`` file (other extensions skip the container check).
    sr : int
        Target sampling rate; other rates are resampled with soxr (high quality).

    Returns
    -------
    np.ndarray, shape (n,), float32
        Stereo and multi-channel files are averaged to mono.

    Raises
    ------
    SkipTrack
        The file is empty, cannot be decoded, is another container than its extension says,
        has an implausible sample rate, is truncated or holds non-finite samples.
    """
    import soundfile as sf

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise SkipTrack("empty file (0 bytes)")
        with _open_checked(sf, path) as f:
            container, file_sr, listed = f.format, int(f.samplerate), int(f.frames)
            data = f.read(dtype="float32", always_2d=True)
        claimed = header_frames(path=path, container=container) or listed
    except SkipTrack:
        raise
    except Exception as exc:  # libsndfile reports corrupt headers/data in several exception types
        raise SkipTrack(f"cannot decode ({type(exc).__name__}: {exc})") from None
    read = int(data.shape[0])
    if read == 0:
        raise SkipTrack("no audio samples")
    if read < MIN_READ_FRACTION * claimed:
        raise SkipTrack(
            f"truncated: the header announces {claimed} frames ({claimed / file_sr:.2f} s) but only "
            f"{read} ({read / file_sr:.2f} s) could be read"
        )
    y = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(y)):
        raise SkipTrack(f"non-finite samples (NaN or inf): {int(np.sum(~np.isfinite(y)))} of {y.size}")
    if file_sr != int(sr):
        import soxr

        y = soxr.resample(y, file_sr, int(sr), quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(y, dtype=np.float32)
