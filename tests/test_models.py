"""Models: output shapes, registry options, offline pretrained ResNet-18 adaptation."""

from __future__ import annotations

import pytest
import torch

from artgenre.errors import CheckpointError, ParameterError
from artgenre.models import MODELS, build_model, count_parameters


@pytest.mark.parametrize("name", list(MODELS))
def test_logits_shape(name):
    torch.manual_seed(0)
    model = build_model(name=name, input_size=32).eval()
    out = model(torch.rand(3, 1, 32, 32))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(MODELS))
def test_channels_last_weights_change_speed_not_results(name):
    import copy

    torch.manual_seed(0)
    model = build_model(name=name, input_size=32).eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    plain = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    x = torch.rand(4, 1, 32, 32)
    torch.testing.assert_close(model(x), plain(x), rtol=1e-4, atol=1e-5)


def test_cnn_full_size_layout():
    model = build_model(name="cnn")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears[0].in_features == 256 * 8 * 8 and linears[0].out_features == 512
    assert model.eval()(torch.rand(2, 1, 128, 128)).shape == (2, 10)


def test_num_classes_and_parameter_count():
    small = build_model(name="cnn", num_classes=3, input_size=16)
    assert small(torch.rand(1, 1, 16, 16)).shape == (1, 3)
    expected = sum(p.numel() for p in small.parameters())
    assert count_parameters(small) == expected
    for p in small.features.parameters():
        p.requires_grad_(False)
    assert count_parameters(small, trainable_only=True) < expected


def test_resnet_stem_is_one_channel():
    model = build_model(name="resnet18", input_size=32)
    assert tuple(model.conv1.weight.shape) == (64, 1, 7, 7)
    assert model.fc.out_features == 10


def test_cnn_rejects_pretrained():
    with pytest.raises(ParameterError, match="cnn"):
        build_model(name="cnn", pretrained=True)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ParameterError, match="resnet18"):
        build_model(name="vgg")


def _imagenet_like_state(path):
    from torchvision.models import resnet18

    torch.manual_seed(1)
    state = resnet18(weights=None).state_dict()  # 3-channel conv1, 1000-way fc
    torch.save(state, path)
    return state


def test_pretrained_from_local_file_sums_rgb_kernels(tmp_path):
    state = _imagenet_like_state(tmp_path / "r18.pth")
    model = build_model(name="resnet18", weights_path=tmp_path / "r18.pth", input_size=32)
    assert torch.equal(model.conv1.weight, state["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(model.layer3[0].conv2.weight, state["layer3.0.conv2.weight"])
    assert torch.equal(model.bn1.running_var, state["bn1.running_var"])
    assert model.fc.weight.shape == (10, 512)


def test_summed_kernel_matches_replicated_gray_input(tmp_path):
    state = _imagenet_like_state(tmp_path / "r18.pth")
    model = build_model(name="resnet18", weights_path=tmp_path / "r18.pth", input_size=32)
    x = torch.rand(2, 1, 32, 32)
    rgb = torch.nn.functional.conv2d(x.repeat(1, 3, 1, 1), state["conv1.weight"], stride=2, padding=3)
    assert torch.allclose(model.conv1(x), rgb, atol=1e-5)


def test_pretrained_uses_hub_cache_only(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(CheckpointError, match="resnet18-f37072fd.pth"):
        build_model(name="resnet18", pretrained=True)
    cached = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    state = _imagenet_like_state(cached)
    model = build_model(name="resnet18", pretrained=True, input_size=32)
    assert torch.equal(model.conv1.weight, state["conv1.weight"].sum(dim=1, keepdim=True))


def test_pretrained_rejects_foreign_state_dict(tmp_path):
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "other.weight": torch.zeros(3)}, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match="does not fit ResNet-18"):
        build_model(name="resnet18", weights_path=tmp_path / "x.pth")
