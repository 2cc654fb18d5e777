"""A differentiable log-mel front end: segment audio → the model input the dataset computes.

`LogMelFrontEnd` maps the audio window of a segment (see `artgenre.data.windows`) and its
clip's reference power to the (1, n_mels, frames) input in [0, 1] that
`artgenre.data.features.waveform_to_segments` gives for that segment, with PyTorch ops only,
so gradients flow back to the samples::

    S   = mel_basis @ |STFT(window)|^2            (uncentred: the window holds the context)
    dB  = 10 log10(max(amin, S)) - 10 log10(max(amin, ref)),   amin = 1e-10
    x   = clip((max(dB, -top_db) + top_db) / top_db, 0, 1)

``mel_basis`` is ``librosa.filters.mel`` and the window is librosa's periodic Hann, so only
floating-point rounding separates it from the features (≤ 1e-4 in input units; see
tests/test_frontend.py). ``ref`` is the clip's clean maximum mel power, held fixed: with it
the floor ``max(dB) - top_db`` of ``librosa.power_to_db`` is -top_db, and a bin pushed above
the clean maximum is clipped at 1 like any input above 0 dB.

`WaveformModel` = front end ∘ spectrogram model, taking ``(B, L)`` audio as ART's
``PyTorchClassifier`` does (``input_shape=(L,)``, ``clip_values=(-1, 1)``). ART calls
``forward(x)`` only, so the reference level is a settable constant (`set_reference`) and an
attack runs once per group of samples that share it (`reference_groups`: one clip's
segments).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from artgenre.data.features import DEFAULT_FEATURES, FeatureParams
from artgenre.data.windows import window_length
from artgenre.errors import CheckpointError, ParameterError

# librosa.power_to_db's default floor on power before the log.
AMIN = 1e-10


class LogMelFrontEnd(nn.Module):
    """Segment audio windows → log-mel segments in [0, 1], as the dataset computes them.

    Parameters
    ----------
    params : FeatureParams
        Feature configuration; the STFT window and the mel filterbank are built from it once
        and kept as buffers (they follow ``.to(device)``).
    """

    def __init__(self, *, params: FeatureParams = DEFAULT_FEATURES) -> None:
        import librosa

        super().__init__()
        self.params = params
        self.length = window_length(params=params)
        self.register_buffer("window", torch.hann_window(params.n_fft, periodic=True, dtype=torch.float32))
        mel = librosa.filters.mel(sr=params.sr, n_fft=params.n_fft, n_mels=params.n_mels)
        self.register_buffer("mel_basis", torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32)))

    def forward(self, audio: torch.Tensor, ref) -> torch.Tensor:
        """Compute the segments.

        Parameters
        ----------
        audio : torch.Tensor, shape (B, L), float32 or float64
            Segment windows (`artgenre.data.windows.segment_windows`), values in [-1, 1];
            ``L = (frames - 1) * hop_length + n_fft``.
        ref : float or torch.Tensor, shape () or (B,)
            Reference power of each window's clip (`reference_power`), >= 0; treated as a
            constant (no gradient flows into it). ``ref <= 0`` marks a silent clip, whose
            segments are all 0 as in the features.

        Returns
        -------
        torch.Tensor, shape (B, 1, n_mels, frames), same dtype as ``audio``, values in [0, 1]

        Raises
        ------
        ParameterError
            ``audio`` is not (B, L) with the configured ``L``.
        """
        p = self.params
        if audio.ndim != 2 or audio.shape[1] != self.length:
            raise ParameterError(
                f"audio of shape {tuple(audio.shape)} does not fit this front end; expected "
                f"(batch, {self.length}) = (batch, (frames - 1) * hop_length + n_fft) for {p}"
            )
        dtype = audio.dtype
        spec = torch.stft(
            audio, n_fft=p.n_fft, hop_length=p.hop_length, window=self.window.to(dtype),
            center=False, return_complex=True,
        )
        # |z|^2 straight from re^2 + im^2, skipping the square root inside abs().
        power = torch.view_as_real(spec).square().sum(-1)
        mel = torch.matmul(self.mel_basis.to(dtype), power)
        ref_t = torch.as_tensor(ref, dtype=dtype, device=audio.device).detach().reshape(-1, 1, 1)
        db = 10.0 * torch.log10(mel.clamp(min=AMIN)) - 10.0 * torch.log10(ref_t.clamp(min=AMIN))
        db = db.clamp(min=-p.top_db)
        x = ((db + p.top_db) / p.top_db).clamp(0.0, 1.0)
        x = torch.where(ref_t > 0, x, torch.zeros_like(x))
        return x.unsqueeze(1)


def build_frontend(*, params: FeatureParams | Mapping | None = None) -> LogMelFrontEnd:
    """A `LogMelFrontEnd` for ``params`` (a `FeatureParams`, its ``as_dict()``, or None for
    the defaults).

    Raises
    ------
    ParameterError
        ``params`` is a mapping with keys `FeatureParams` does not have.
    """
    return LogMelFrontEnd(params=_as_params(params))


def _as_params(params) -> FeatureParams:
    if params is None:
        return DEFAULT_FEATURES
    if isinstance(params, FeatureParams):
        return params
    try:
        return FeatureParams(**dict(params))
    except TypeError:
        raise ParameterError(
            f"feature parameters {dict(params)!r} are not valid; expected the keys of "
            f"FeatureParams: {', '.join(DEFAULT_FEATURES.as_dict())}"
        ) from None


def check_compatible(*, trained: FeatureParams | Mapping | None, frontend: FeatureParams) -> None:
    """Refuse a spectrogram model trained on features other than the front end's.

    Parameters
    ----------
    trained : FeatureParams, mapping or None
        Feature configuration the checkpoint was trained on (``FeatureParams.as_dict()``).
        None means the checkpoint records none; every dataset loader builds
        ``DEFAULT_FEATURES``, so that is assumed.
    frontend : FeatureParams
        The front end's configuration.

    Raises
    ------
    CheckpointError
        The configurations differ; the message names both and the differing fields.
    """
    have = DEFAULT_FEATURES.as_dict() if trained is None else dict(
        trained.as_dict() if isinstance(trained, FeatureParams) else trained
    )
    want = frontend.as_dict()
    diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
    if diff:
        raise CheckpointError(
            f"the model was trained on features {have} but the waveform front end computes "
            f"{want} (differing: {', '.join(diff)}); build the front end with the checkpoint's "
            "feature parameters or use a checkpoint trained on these"
        )


class WaveformModel(nn.Module):
    """Front end ∘ spectrogram model: ``(B, L)`` audio → ``(B, n_classes)`` logits.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 1, n_mels, frames)`` inputs in [0, 1] to logits.
    frontend : LogMelFrontEnd
    reference : float or None
        Initial reference power (see `set_reference`); None leaves it unset and `forward`
        refuses to run until it is set.

    Notes
    -----
    One reference level serves the whole batch, so ART attacks need no change; the price is
    that a batch holds one clip's segments at most (see `reference_groups`).
    """

    def __init__(self, *, model: nn.Module, frontend: LogMelFrontEnd, reference: float | None = None) -> None:
        super().__init__()
        self.frontend = frontend
        self.model = model
        # float32 holds a reference exactly: it is the max of a float32 mel spectrogram.
        self.register_buffer("reference", torch.zeros((), dtype=torch.float32))
        self._has_reference = False
        if reference is not None:
            self.set_reference(reference)

    def set_reference(self, ref: float) -> None:
        """Set the reference power used for every sample of the following calls.

        Raises
        ------
        ParameterError
            ``ref`` is not a finite number >= 0.
        """
        try:
            value = float(ref)
        except (TypeError, ValueError):
            raise ParameterError(f"reference={ref!r} is not a number; expected a finite power >= 0") from None
        if not np.isfinite(value) or value < 0:
            raise ParameterError(f"reference={ref!r} is not valid; expected a finite power >= 0")
        self.reference.fill_(value)
        self._has_reference = True

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Logits of ``audio`` (B, L) under the current reference power.

        Raises
        ------
        ParameterError
            No reference set, or ``audio`` does not fit the front end.
        """
        return self.model(self.features(audio))

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """The spectrogram model's input: the front end's log-mels of ``audio`` (B, L) under the
        current reference power, (B, 1, n_mels, frames) in [0, 1].

        Raises
        ------
        ParameterError
            No reference set, or ``audio`` does not fit the front end.
        """
        if not self._has_reference:
            raise ParameterError("WaveformModel has no reference power; call set_reference(ref) first")
        return self.frontend(audio, self.reference)

    def split_features(self):
        """``(features, head)`` with ``forward == head ∘ features``: where the spectrogram is."""
        return self.features, self.model


class _Bpda(torch.autograd.Function):
    """ART preprocessing defences in the forward pass, the identity in the backward pass (BPDA,
    as ART's ``FeatureSqueezing.estimate_gradient``)."""

    @staticmethod
    def forward(ctx, x, defences):  # noqa: ARG004 - torch passes ctx
        a = x.detach().cpu().numpy()
        for d in defences:
            a, _ = d(a)
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(x.device)

    @staticmethod
    def backward(ctx, grad):  # noqa: ARG004
        return grad, None


class InputDefences(nn.Module):
    """``model`` behind ART preprocessing defences (e.g. the bit-depth squeezer) applied to its own
    ``(B, 1, n_mels, frames)`` input, for threat models whose perturbed array is not that input
    (the waveform: the squeezer acts on the front end's output, not on the audio). Gradients
    pass through the defences as the identity, as ART differentiates them on the spectrogram."""

    def __init__(self, *, model: nn.Module, defences) -> None:
        super().__init__()
        self.model = model
        self.defences = list(defences)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(_Bpda.apply(x, self.defences))

    def extra_repr(self) -> str:
        # The defences' settings, so that two wrappers differ in repr when they differ in output.
        return "defences=" + ", ".join(
            f"{type(d).__name__}({', '.join(f'{p}={getattr(d, p, None)!r}' for p in getattr(d, 'params', []))})"
            for d in self.defences)


def split_features(model) -> tuple:
    """``(features, head)`` with ``model(x) == head(features(x))``, ``features(x)`` the spectrogram
    model's input: ``model.split_features()`` where the model defines it (`WaveformModel`, the
    waveform threat's per-example wrapper), else the identity and ``model``."""
    split = getattr(model, "split_features", None)
    return split() if callable(split) else ((lambda x: x), model)


def reference_groups(*, ref) -> list[np.ndarray]:
    """Sample indices grouped by equal reference power, for one attack call per group.

    Parameters
    ----------
    ref : array-like, shape (N,)
        Reference power of each sample (`Split.audio_ref`).

    Returns
    -------
    list of np.ndarray of int64
        Groups in order of their first sample; indices ascending inside each group.
        Concatenated they are a permutation of ``range(N)``.

    Raises
    ------
    ParameterError
        ``ref`` is not one-dimensional.
    """
    ref = np.asarray(ref)
    if ref.ndim != 1:
        raise ParameterError(
            f"ref of shape {ref.shape} is not valid; expected one value per sample, shape (N,)"
        )
    _, first, inverse = np.unique(ref, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    return [np.flatnonzero(inverse == g).astype(np.int64) for g in order]
