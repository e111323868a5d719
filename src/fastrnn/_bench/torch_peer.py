"""The PyTorch CPU peer: ``nn.RNN`` for kernel workloads, Embedding -> RNN -> Linear+sigmoid with
``BCELoss`` and ``torch.optim.RMSprop`` for the lecture model.

Weights are copied from fastrnn's Keras layout: ``weight_ih = kernel.T``,
``weight_hh = recurrent_kernel.T``, ``bias_ih = bias``, ``bias_hh = 0`` (frozen, so that the
effective bias gets one RMSprop update per step as in Keras). RMSprop mirrors Keras with
``alpha=0.9, eps=1e-7``, except that torch adds eps outside the square root
(``g/(sqrt(v)+eps)``) and Keras inside (``g/sqrt(v+eps)``): the updates differ for gradients
below ~1e-3, so agreement is checked on losses and gradients, not on updated weights.

Flush-to-zero: ``torch.set_flush_denormal`` sets the MXCSR of the calling thread only; worker
threads inherit the MXCSR of the thread that creates them. :func:`flush_fraction` measures what
the intra-op threads actually do.
"""

from __future__ import annotations

import numpy as np

__all__ = ["available", "version", "set_threads", "flush_fraction", "TorchNetwork",
           "TorchLecture"]


def available() -> bool:
    """True when ``import torch`` works."""
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def version() -> str:
    """``torch.__version__``."""
    import torch

    return str(torch.__version__)


def set_threads(n: int) -> None:
    """Intra-op threads for the following torch calls."""
    import torch

    torch.set_num_threads(int(n))


def flush_fraction(n_elements: int = 1 << 20) -> float:
    """Fraction of a parallel elementwise product whose subnormal results come out as zero.

    ``1e-30 * 1e-10`` is subnormal in float32: 1.0 means every intra-op thread flushes to zero,
    0.0 none, anything between that only some threads do.
    """
    import torch

    a = torch.full((n_elements,), 1e-30)
    b = torch.full((n_elements,), 1e-10)
    c = a * b
    return float((c == 0).sum().item()) / n_elements


def _copy_rnn(rnn, weights: list, bidirectional: bool) -> None:
    import torch

    with torch.no_grad():
        for d, layers in enumerate(weights):
            suffix = "_reverse" if d == 1 else ""
            for l, (k, r, b) in enumerate(layers):
                getattr(rnn, f"weight_ih_l{l}{suffix}").copy_(torch.from_numpy(np.ascontiguousarray(k.T)))
                getattr(rnn, f"weight_hh_l{l}{suffix}").copy_(torch.from_numpy(np.ascontiguousarray(r.T)))
                getattr(rnn, f"bias_ih_l{l}{suffix}").copy_(torch.from_numpy(b))
                bias_hh = getattr(rnn, f"bias_hh_l{l}{suffix}")
                bias_hh.zero_()
                bias_hh.requires_grad_(False)


class TorchNetwork:
    """``nn.RNN(tanh, batch_first)`` holding the weights of an ``RNNData``."""

    def __init__(self, weights: list, bidirectional: bool) -> None:
        import torch

        F, H = weights[0][0][0].shape
        self.bidirectional = bidirectional
        self.rnn = torch.nn.RNN(F, H, num_layers=len(weights[0]), nonlinearity="tanh",
                                bias=True, batch_first=True, bidirectional=bidirectional)
        _copy_rnn(self.rnn, weights, bidirectional)
        self.H = H

    def _final(self, h_n):
        import torch

        if self.bidirectional:  # h_n (2, B, H): forward then backward direction
            return torch.cat([h_n[0], h_n[1]], dim=1)
        return h_n[-1]

    def forward(self, x_t) -> dict:
        """Inference on a torch tensor ``x_t`` (B, T, F); numpy results."""
        import torch

        with torch.inference_mode():
            out, h_n = self.rnn(x_t)
            final = self._final(h_n)
        H = self.H
        return {"outputs": out[..., :H].numpy(), "final": final.numpy()}

    def train(self, x_t, d_final_t) -> dict:
        """Forward + backward with loss ``sum(final * d_final)``; gradients in Keras layout."""
        x_t = x_t.detach().requires_grad_(True)
        for p in self.rnn.parameters():
            p.grad = None
        _, h_n = self.rnn(x_t)
        final = self._final(h_n)
        (final * d_final_t).sum().backward()
        return {"final": final.detach(), "dx": x_t.grad, "_rnn": self.rnn}

    def keras_grads(self, result: dict) -> dict:
        """Convert :meth:`train`'s result to numpy in the NumPy peer's layout."""
        rnn = result["_rnn"]
        grads = []
        directions = 2 if self.bidirectional else 1
        for d in range(directions):
            suffix = "_reverse" if d == 1 else ""
            for l in range(rnn.num_layers):
                grads.append((
                    getattr(rnn, f"weight_ih_l{l}{suffix}").grad.numpy().T,
                    getattr(rnn, f"weight_hh_l{l}{suffix}").grad.numpy().T,
                    getattr(rnn, f"bias_ih_l{l}{suffix}").grad.numpy(),
                ))
        return {"final": result["final"].numpy(), "dx": result["dx"].numpy(), "grads": grads}


class TorchLecture:
    """Embedding -> RNN -> Linear + sigmoid, ``BCELoss``, ``RMSprop(lr=1e-3, alpha=0.9,
    eps=1e-7)``, initialized from the lecture weights (Keras order)."""

    def __init__(self, weights: list) -> None:
        import torch

        emb, k, r, b, dk, db = weights
        self.emb = torch.nn.Embedding(emb.shape[0], emb.shape[1])
        self.rnn = torch.nn.RNN(k.shape[0], k.shape[1], nonlinearity="tanh", batch_first=True)
        self.fc = torch.nn.Linear(dk.shape[0], 1)
        with torch.no_grad():
            self.emb.weight.copy_(torch.from_numpy(emb))
            self.fc.weight.copy_(torch.from_numpy(np.ascontiguousarray(dk.T)))
            self.fc.bias.copy_(torch.from_numpy(db))
        _copy_rnn(self.rnn, [[(k, r, b)]], False)
        self.params = [self.emb.weight, self.rnn.weight_ih_l0, self.rnn.weight_hh_l0,
                       self.rnn.bias_ih_l0, self.fc.weight, self.fc.bias]
        self.opt = torch.optim.RMSprop(self.params, lr=1e-3, alpha=0.9, eps=1e-7)
        self.loss_fn = torch.nn.BCELoss()

    def train_step(self, ids_t, y_t) -> float:
        """One optimizer step on torch tensors; returns the loss tensor (not synchronized)."""
        import torch

        self.opt.zero_grad(set_to_none=True)
        _, h_n = self.rnn(self.emb(ids_t))
        p = torch.sigmoid(self.fc(h_n[0]))
        loss = self.loss_fn(p, y_t)
        loss.backward()
        self.opt.step()
        return loss

    def keras_grads(self) -> list:
        """Gradients of the last step, Keras order and layout."""
        g = [p.grad.numpy() for p in self.params]
        return [g[0], g[1].T, g[2].T, g[3], g[4].T, g[5]]
