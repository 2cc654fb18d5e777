"""Training configurations: `PROFILES`, `TrainConfig` and `make_train_config`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from artgenre.data import DataConfig
from artgenre.errors import ParameterError, check_choice, check_device_name, check_int, check_range

PROFILES: dict[str, dict[str, Any]] = {
    "paper": {
        "epochs": 100, "patience": 20, "lr": 1e-3, "weight_decay": 1e-4,
        "batch_size": 64, "lr_factor": 0.5, "lr_patience": 5,
    },
    "quick": {
        "epochs": 5, "patience": 3, "lr": 1e-3, "weight_decay": 1e-4,
        "batch_size": 32, "lr_factor": 0.5, "lr_patience": 2,
    },
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (saved in the checkpoint and the result).

    Attributes
    ----------
    model : str
        `artgenre.models.MODELS` key.
    data : DataConfig
        Reloads the same splits: ``load_dataset(**data.loader_kwargs())``.
    profile : str
        `PROFILES` key the defaults came from.
    epochs : int
        Maximum number of epochs (>= 1).
    patience : int
        Early stopping: epochs without a better score before stopping (>= 1).
    lr, weight_decay : float
        Adam learning rate (> 0) and weight decay (>= 0).
    batch_size : int
        Training batch size (>= 1).
    lr_factor : float
        ReduceLROnPlateau factor, in (0, 1).
    lr_patience : int
        ReduceLROnPlateau patience in epochs (>= 0).
    seed : int
        Seeds Python, NumPy and PyTorch (>= 0).
    device : str
        ``"auto" | "cpu" | "cuda" | "cuda:N"``.
    pretrained : bool
        ImageNet initialisation (``resnet18`` only).
    weights_path : str or None
        Local ImageNet weights file (implies ``pretrained``).
    out : str
        Output folder: ``<out>/train-<model>.json`` and ``<out>/checkpoints/<model>.pt``.
    eval_batch_size : int
        Batch size for validation/test forward passes (>= 1).
    """

    model: str = "cnn"
    data: DataConfig = field(default_factory=DataConfig)
    profile: str = "quick"
    epochs: int = PROFILES["quick"]["epochs"]
    patience: int = PROFILES["quick"]["patience"]
    lr: float = PROFILES["quick"]["lr"]
    weight_decay: float = PROFILES["quick"]["weight_decay"]
    batch_size: int = PROFILES["quick"]["batch_size"]
    lr_factor: float = PROFILES["quick"]["lr_factor"]
    lr_patience: int = PROFILES["quick"]["lr_patience"]
    seed: int = 0
    device: str = "auto"
    pretrained: bool = False
    weights_path: str | None = None
    out: str = "results"
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        from artgenre.models import MODELS, has_pretrained

        def set_(name: str, value) -> None:  # normalise fields of the frozen instance
            object.__setattr__(self, name, value)

        check_choice("profile", self.profile, PROFILES)
        MODELS[self.model]
        set_("data", _data_config(self.data))
        pretrained = bool(self.pretrained) or self.weights_path is not None
        if pretrained and not has_pretrained(self.model):
            with_weights = ", ".join(name for name in MODELS if has_pretrained(name))
            raise ParameterError(
                f"model {self.model!r} has no pretrained weights (pretrained/weights_path given); "
                f"models with them: {with_weights}"
            )
        set_("pretrained", pretrained)
        set_("weights_path", None if self.weights_path is None else str(self.weights_path))
        set_("epochs", check_int("epochs", self.epochs, 1))
        set_("patience", check_int("patience", self.patience, 1))
        set_("lr", check_range("lr", self.lr, low=0.0, low_open=True))
        set_("weight_decay", check_range("weight_decay", self.weight_decay, low=0.0))
        set_("batch_size", check_int("batch_size", self.batch_size, 1))
        set_("lr_factor", check_range("lr_factor", self.lr_factor, low=0.0, high=1.0, low_open=True, high_open=True))
        set_("lr_patience", check_int("lr_patience", self.lr_patience, 0))
        set_("seed", check_int("seed", self.seed, 0))
        set_("device", check_device_name(self.device))
        if self.out is None or not str(self.out).strip():
            raise ParameterError(f"out={self.out!r} is not valid; expected a results folder path")
        set_("out", str(self.out))
        set_("eval_batch_size", check_int("eval_batch_size", self.eval_batch_size, 1))

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Rebuild (and re-validate) a config from its saved JSON form."""
        d = dict(d)
        return make_train_config(profile=d.pop("profile", "quick"), **d)


def _data_config(value) -> DataConfig:
    if value is None:
        return DataConfig()
    if isinstance(value, DataConfig):
        return value
    if isinstance(value, dict):
        return DataConfig.from_dict(value)
    raise ParameterError(f"data={value!r} is not valid; expected a DataConfig or a dict of its fields")


def make_train_config(*, profile: str = "quick", **overrides) -> TrainConfig:
    """A validated `TrainConfig`: `PROFILES[profile]` values, then ``overrides``.

    Overrides set to None are ignored (so CLI options left out fall back to the profile).
    ``weights_path`` implies ``pretrained=True``.

    Raises
    ------
    ParameterError
        Unknown profile, field or model; out-of-range values (epochs < 1, lr <= 0,
        lr_factor outside (0, 1), ...); ``pretrained`` for a model without weights.
    """
    check_choice("profile", profile, PROFILES)
    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"profile"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ParameterError(
            f"unknown training option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(known))}"
        )
    values = {**PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}}
    # Every field is validated (one place) in TrainConfig.__post_init__.
    return TrainConfig(profile=profile, **values)
