"""Feature squeezing through ART's preprocessors, as an input transform of a classifier.

`make_squeezer` returns ART's `FeatureSqueezing` (bit-depth reduction on [0, 1] inputs), to be
attached with ``as_art_classifier(..., preprocessing_defences=[squeezer])``. ART then squeezes
every input of ``predict`` (``apply_predict``) and, with ``apply_fit``, every training batch.

Gradients (checked against ART 1.20.1): `FeatureSqueezing` is a NumPy preprocessor that does not
override ``Preprocessor.estimate_gradient``, whose default returns the incoming gradient
unchanged. ``PyTorchClassifier.loss_gradient`` therefore back-propagates through the squeezer as
the identity: an attack run on the squeezed classifier is the BPDA attack of Athalye et al. (2018)
— the forward pass squeezes, the backward pass pretends it did not. (Because the squeezer is not a
``PreprocessorPyTorch``, ART also switches PGD to its NumPy implementation for such a classifier.)

dtype: under NumPy 2 promotion rules ART's ``FeatureSqueezing`` turns float32 input into float64
(it multiplies by a float64 scalar), which a float32 PyTorch model rejects ("Input type (double)
and bias type (float) should be the same"). `make_squeezer` therefore returns
`FeatureSqueezingF32`, ART's class with the output cast back to the input dtype.
"""

from __future__ import annotations

import functools

import numpy as np

from artgenre.errors import ParameterError, check_int

#: Window of the median filter used by the detector (Xu et al. 2018 use 2 x 2 on MNIST/CIFAR).
MEDIAN_WINDOW = 2


@functools.cache
def _squeezer_class():
    from art.defences.preprocessor import FeatureSqueezing

    class FeatureSqueezingF32(FeatureSqueezing):
        """ART's `FeatureSqueezing` returning the dtype it was given (see the module docstring)."""

        def __call__(self, x, y=None):
            res, y = super().__call__(x, y)
            return res.astype(np.asarray(x).dtype, copy=False), y

    return FeatureSqueezingF32


def check_bit_depth(bit_depth) -> int:
    """Return ``bit_depth`` as int, or raise `ParameterError` unless it is an integer in 1..64."""
    if isinstance(bit_depth, bool) or not isinstance(bit_depth, int) or not 1 <= bit_depth <= 64:
        raise ParameterError(f"bit_depth={bit_depth!r} is not valid; expected an integer in 1..64")
    return int(bit_depth)


def make_squeezer(*, bit_depth: int = 5, apply_fit: bool = False, apply_predict: bool = True):
    """ART bit-depth squeezer for inputs in [0, 1].

    Parameters
    ----------
    bit_depth : int
        Bits kept per value, 1..64: inputs are rounded to ``2**bit_depth`` evenly spaced levels
        in [0, 1] (5 bits = 32 levels, i.e. steps of 1/31 ≈ 2.6 dB on the log-mel scale).
    apply_fit : bool
        Also squeeze training batches (adversarial training *with* the squeezer).
    apply_predict : bool
        Squeeze inputs at prediction and gradient time.

    Returns
    -------
    art.defences.preprocessor.FeatureSqueezing
        A subclass that keeps the input dtype (float32 in, float32 out).

    Raises
    ------
    ParameterError
        ``bit_depth`` is not an integer in 1..64.
    """
    return _squeezer_class()(
        clip_values=(0.0, 1.0),
        bit_depth=check_bit_depth(bit_depth),
        apply_fit=bool(apply_fit),
        apply_predict=bool(apply_predict),
    )


def make_median_filter(*, window: int = MEDIAN_WINDOW):
    """ART median filter over the two spatial axes of ``(N, C, H, W)`` inputs.

    Parameters
    ----------
    window : int
        Side of the square window, >= 1. With an even side SciPy (and so ART) takes the upper of
        the two middle values.

    Returns
    -------
    art.defences.preprocessor.SpatialSmoothing
    """
    from art.defences.preprocessor import SpatialSmoothing

    check_int("window", window, 1)
    return SpatialSmoothing(window_size=window, channels_first=True, clip_values=(0.0, 1.0))


def detector_squeezers(*, bit_depth: int = 5, median: bool = True) -> list:
    """The squeezers a feature-squeezing detector compares against: bit depth, then optionally
    the median filter (each applied on its own to the raw input, as in Xu et al. 2018)."""
    squeezers = [make_squeezer(bit_depth=bit_depth)]
    if median:
        squeezers.append(make_median_filter())
    return squeezers
