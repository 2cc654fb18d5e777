"""Differentiable log-mel front end, segment audio windows, and the test audio in the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from artgenre.data import features, load_dataset
from artgenre.data.cache import MANIFEST
from artgenre.data.features import DEFAULT_FEATURES, FeatureParams
from artgenre.data.gtzan import load_audio
from artgenre.data.synth import synthesize_clip
from artgenre.data.windows import reference_power, segment_windows, window_length
from artgenre.frontend import WaveformModel, build_frontend, check_compatible, reference_groups

TOL = 1e-4  # input units, i.e. 0.008 dB
EXCERPT = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-excerpt" / "genres_original"
TINY = dict(name="synth", clips_per_genre=2, clip_seconds=3.5, progress=False, workers=1)
# Small enough for a 32x32 model and float64 finite differences.
SMALL = FeatureParams(sr=8000, n_fft=256, hop_length=64, n_mels=32, frames=32)
GRAD = FeatureParams(sr=8000, n_fft=64, hop_length=16, n_mels=8, frames=4)


def _sine_noise(*, n: int, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    return (0.5 * np.sin(2 * np.pi * 440.0 * t) + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _max_error(y: np.ndarray, params: FeatureParams = DEFAULT_FEATURES) -> float:
    expected = features.waveform_to_segments(y, params)
    windows, ref = segment_windows(y=y, params=params)
    assert windows.shape == (expected.shape[0], window_length(params=params))
    with torch.no_grad():
        got = build_frontend(params=params)(torch.from_numpy(windows), ref).numpy()
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max())


@pytest.mark.parametrize("genre", ["blues", "classical", "metal", "hiphop"])
def test_front_end_reproduces_the_features_of_synthetic_clips(genre):
    y = synthesize_clip(genre=genre, seed=3, index=1, seconds=6.5, sr=DEFAULT_FEATURES.sr)
    err = _max_error(y)
    assert err <= TOL, f"{genre}: max |frontend - features| = {err:.3g}"


def test_front_end_reproduces_the_features_where_the_last_frame_reads_end_padding():
    p = DEFAULT_FEATURES
    # 2 * frames frames exactly: the last frame is centred on the clip's last sample + 1.
    n = (2 * p.frames - 1) * p.hop_length + 100
    assert features.n_segments(n, p) == 2
    assert _max_error(_sine_noise(n=n, sr=p.sr)) <= TOL


def test_front_end_reproduces_the_features_of_the_gtzan_excerpt():
    if not EXCERPT.is_dir():
        pytest.skip(f"GTZAN excerpt not found at {EXCERPT}")
    errors = {}
    for folder in sorted(p for p in EXCERPT.iterdir() if p.is_dir()):
        path = folder / f"{folder.name}.00000.wav"
        if path.is_file():
            errors[folder.name] = _max_error(load_audio(path=path, sr=DEFAULT_FEATURES.sr))
    assert errors, f"no <genre>.00000.wav under {EXCERPT}"
    assert max(errors.values()) <= TOL, errors


def test_windows_are_the_samples_each_segment_depends_on():
    p = SMALL
    n = (3 * p.frames - 1) * p.hop_length + 5  # 3 segments; the last one reads end padding
    y = _sine_noise(n=n, sr=p.sr, seed=1)
    windows, ref = segment_windows(y=y, params=p)
    half, length, stride = p.n_fft // 2, window_length(params=p), p.frames * p.hop_length
    assert windows.shape == (3, length) and windows.dtype == np.float32
    padded = np.concatenate([np.zeros(half, np.float32), y, np.zeros(length, np.float32)])
    for i in range(3):
        np.testing.assert_array_equal(windows[i], padded[i * stride: i * stride + length])
    assert np.all(windows[0, :half] == 0) and np.all(windows[2, n + half - 2 * stride:] == 0)
    mel = features.logmel(y, p)  # its 0 dB bin is the clip's reference
    assert np.isclose(mel.max(), 1.0) and ref == pytest.approx(reference_power(y=y, params=p))


def test_silent_clip_gives_zeros_like_the_features():
    y = np.zeros(window_length(params=SMALL) * 2, np.float32)
    windows, ref = segment_windows(y=y, params=SMALL)
    assert ref == 0.0
    out = build_frontend(params=SMALL)(torch.from_numpy(windows), ref)
    np.testing.assert_array_equal(out.numpy(), features.waveform_to_segments(y, SMALL))


def test_gradient_matches_finite_differences():
    torch.manual_seed(0)
    front = build_frontend(params=GRAD).double()
    audio = (0.3 * torch.randn(2, window_length(params=GRAD), dtype=torch.float64)).requires_grad_()
    with torch.no_grad():
        s = torch.stft(audio, n_fft=GRAD.n_fft, hop_length=GRAD.hop_length, window=front.window.double(),
                       center=False, return_complex=True).abs().square()
        mel_max = float((front.mel_basis.double() @ s).max())
        # A reference above the loudest bin keeps every value strictly inside (0, 1), where
        # the map is smooth, so central differences apply.
        ref = torch.tensor(4.0 * mel_max, dtype=torch.float64)
        out = front(audio, ref)
    assert out.shape == (2, 1, GRAD.n_mels, GRAD.frames)
    assert 0.0 < float(out.min()) and float(out.max()) < 1.0
    assert torch.autograd.gradcheck(lambda a: front(a, ref), (audio,), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_values_above_the_clean_maximum_are_clipped_at_one():
    y = _sine_noise(n=window_length(params=SMALL) * 2, sr=SMALL.sr)
    windows, ref = segment_windows(y=y, params=SMALL)
    front = build_frontend(params=SMALL)
    louder = front(torch.from_numpy(4.0 * windows), ref)  # +12 dB, reference held fixed
    clean = front(torch.from_numpy(windows), ref)
    assert float(louder.max()) == 1.0
    assert int((louder == 1.0).sum()) > int((clean == 1.0).sum())


def test_reference_groups_keep_order():
    ref = np.array([3.0, 3.0, 1.0, 2.0, 1.0, 3.0], np.float32)
    groups = reference_groups(ref=ref)
    assert [g.tolist() for g in groups] == [[0, 1, 5], [2, 4], [3]]
    assert reference_groups(ref=np.zeros(0)) == []


def _waveform_classifier(model, length, device):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=model.to(device), loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), input_shape=(length,), nb_classes=10,
        clip_values=(-1.0, 1.0), device_type="gpu" if device.type == "cuda" else "cpu",
    )


def test_art_pgd_runs_on_the_waveform_model_one_reference_group_at_a_time():
    from art.attacks.evasion import ProjectedGradientDescent

    from artgenre.runtime import resolve_device

    torch.manual_seed(0)
    p = SMALL
    n = 4 * p.frames * p.hop_length
    clips = [_sine_noise(n=n, sr=p.sr, seed=s) * gain for s, gain in ((0, 1.0), (1, 0.5))]
    pieces = [segment_windows(y=y, params=p) for y in clips]
    x = np.concatenate([w for w, _ in pieces])
    ref = np.concatenate([np.full(len(w), r, np.float32) for w, r in pieces])
    assert len(set(ref.tolist())) == 2
    # A linear spectrogram model: an untrained CNN barely depends on its input, and a trained
    # one on separable toy data saturates its softmax (zero gradients).
    spectrogram_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(p.n_mels * p.frames, 10))
    wave = WaveformModel(model=spectrogram_model, frontend=build_frontend(params=p))
    clf = _waveform_classifier(wave, window_length(params=p), resolve_device("auto"))
    eps = 0.005
    pgd = ProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=eps / 4, max_iter=5, verbose=False)
    x_adv = np.empty_like(x)
    clean = np.empty(len(x), np.int64)
    adv = np.empty(len(x), np.int64)
    for group in reference_groups(ref=ref):
        wave.set_reference(float(ref[group[0]]))
        clean[group] = clf.predict(x[group]).argmax(1)
        x_adv[group] = pgd.generate(x[group])
        adv[group] = clf.predict(x_adv[group]).argmax(1)
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    assert x_adv.min() >= -1.0 and x_adv.max() <= 1.0
    assert np.any(adv != clean)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_front_end_on_cuda_matches_the_features():
    y = synthesize_clip(genre="disco", seed=0, index=0, seconds=6.5, sr=DEFAULT_FEATURES.sr)
    windows, ref = segment_windows(y=y, params=DEFAULT_FEATURES)
    front = build_frontend().to("cuda")
    with torch.no_grad():
        got = front(torch.from_numpy(windows).to("cuda"), ref).cpu().numpy()
    assert np.abs(got - features.waveform_to_segments(y)).max() <= TOL


def test_check_compatible_accepts_the_same_configuration():
    check_compatible(trained=DEFAULT_FEATURES.as_dict(), frontend=DEFAULT_FEATURES)
    check_compatible(trained=None, frontend=DEFAULT_FEATURES)


# --- test audio in the dataset cache ---------------------------------------------------------


def _assert_audio_matches(split):
    assert split.audio.shape == (len(split), window_length(params=DEFAULT_FEATURES))
    assert split.audio.dtype == np.float32 and split.audio_ref.shape == (len(split),)
    with torch.no_grad():
        got = build_frontend()(torch.from_numpy(np.array(split.audio)), torch.from_numpy(split.audio_ref))
    assert np.abs(got.numpy() - np.asarray(split.x)).max() <= TOL


def test_synth_test_split_keeps_the_audio_of_each_segment(tmp_path):
    data = load_dataset(cache_dir=tmp_path, **TINY)
    assert data.train.audio is None and data.val.audio is None
    assert isinstance(data.test.audio, np.memmap) and not data.test.audio.flags.writeable
    _assert_audio_matches(data.test)
    part = data.test.take(np.array([1, 0]))
    np.testing.assert_array_equal(part.audio, np.asarray(data.test.audio)[[1, 0]])
    np.testing.assert_array_equal(part.audio_ref, data.test.audio_ref[[1, 0]])
    again = load_dataset(cache_dir=tmp_path, **TINY)
    assert again.from_cache
    np.testing.assert_array_equal(again.test.audio, data.test.audio)


def test_gtzan_test_split_keeps_the_audio_of_each_segment(tmp_path, small_gtzan_root):
    data = load_dataset(name="gtzan", root=small_gtzan_root, cache_dir=tmp_path, progress=False, workers=1)
    assert len(data.test) > 0 and data.train.audio is None
    _assert_audio_matches(data.test)


def test_entry_cached_without_audio_is_completed_without_recomputing_features(tmp_path, monkeypatch):
    first = load_dataset(cache_dir=tmp_path, **TINY)
    audio, ref = np.array(first.test.audio), np.array(first.test.audio_ref)
    x_before = {s: np.array(first.split(s).x) for s in ("train", "val", "test")}
    folder = first.cache_dir
    # What an entry written before the audio was kept looks like.
    manifest = json.loads((folder / MANIFEST).read_text())
    del manifest["splits"]["test"]["audio"], manifest["splits"]["test"]["audio_ref"]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    (folder / "test_audio.npy").unlink()
    (folder / "test_audio_ref.npy").unlink()

    def forbid(*args, **kwargs):
        raise AssertionError("features were recomputed although only the audio was missing")

    monkeypatch.setattr(features, "waveform_to_segments", forbid)
    again = load_dataset(cache_dir=tmp_path, **TINY)
    assert again.from_cache
    np.testing.assert_array_equal(again.test.audio, audio)
    np.testing.assert_array_equal(again.test.audio_ref, ref)
    for s, x in x_before.items():
        np.testing.assert_array_equal(again.split(s).x, x)
    assert "audio" in json.loads((folder / MANIFEST).read_text())["splits"]["test"]
