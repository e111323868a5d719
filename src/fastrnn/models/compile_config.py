"""``get_compile_config`` / ``compile_from_config``: the compile arguments as JSON-able data,
so ``fastrnn.saving`` can store them and ``load_model`` can recompile (as Keras does)."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["get_compile_config", "compile_from_config"]


def _serialize(obj: Any, module: Any, what: str) -> Any:
    if obj is None or isinstance(obj, (str, int, float)):
        return obj
    try:
        return module.serialize(obj)
    except (TypeError, ValueError):
        warnings.warn(f"The {what} {obj!r} cannot be serialized; the saved model will not "
                      "restore it (recompile after loading).", stacklevel=3)
        return None


def get_compile_config(model: Any) -> dict | None:
    """The arguments of the last ``compile()`` (None if the model is not compiled)."""
    from .. import losses, metrics, optimizers

    if not getattr(model, "compiled", False):
        return None
    return {
        "optimizer": _serialize(model.optimizer, optimizers, "optimizer"),
        "loss": _serialize(model.loss, losses, "loss"),
        "metrics": [_serialize(m, metrics, "metric") for m in model._metric_specs],
        "weighted_metrics": [_serialize(m, metrics, "metric")
                             for m in model._weighted_metric_specs],
        "loss_weights": model._loss_weight,
    }


def compile_from_config(model: Any, config: dict) -> None:
    """Call ``model.compile`` with a config made by :func:`get_compile_config`."""
    from .. import optimizers

    if not isinstance(config, dict):
        raise ValueError(f"compile config must be a dict. Received: {config!r}")
    opt = config.get("optimizer") or "rmsprop"
    if isinstance(opt, dict):
        opt = optimizers.deserialize(opt)
    model.compile(
        optimizer=opt, loss=config.get("loss"),
        metrics=[m for m in config.get("metrics") or [] if m is not None] or None,
        weighted_metrics=[m for m in config.get("weighted_metrics") or [] if m is not None] or None,
        loss_weights=config.get("loss_weights"),
    )
