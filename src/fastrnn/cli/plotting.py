"""Training-curve plots for the command line (matplotlib is an optional extra: ``fastrnn[plot]``)."""

from __future__ import annotations

from typing import Mapping, Sequence

MISSING_MATPLOTLIB = (
    "--plot needs matplotlib, which is not installed. Install it with "
    "`pip install matplotlib` (or `pip install fastrnn[plot]`)."
)


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_history(history: Mapping[str, Sequence[float]], path: str, title: str,
                 val_label: str = "validation") -> None:
    """Save loss and accuracy curves (train and ``val_*`` entries) side by side as ``path``.

    The accuracy key is ``"accuracy"`` or ``"acc"``; ``val_label`` names the ``val_*`` curves.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc_key = "accuracy" if "accuracy" in history else "acc"
    epochs = range(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, name in ((axes[0], "loss", "Loss"), (axes[1], acc_key, "Accuracy")):
        ax.plot(epochs, history[key], "o-", markersize=3, label="training")
        if "val_" + key in history:
            ax.plot(epochs, history["val_" + key], "s-", markersize=3, label=val_label)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
