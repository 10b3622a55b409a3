"""Pyro models ``p(w) p(y | x, w)`` around a network with Bayesian layers.

The likelihood sits in ``pyro.plate("data", num_data, subsample=<the batch's B indices>)``:
Pyro scales a minibatch's log-likelihood by ``num_data / B`` while the prior (the KL term)
is counted once, so the minibatch ELBO is an unbiased estimate of the full-data ELBO. The
loader has already drawn the batch, so the plate is handed its indices rather than asked
to draw a random subset of ``num_data`` (``subsample_size``), which would cost a
``randperm(num_data)`` per step and throw it away.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from ._checks import check_batch_size, check_finite, check_labels, names_input_shape
from ._compat import Scope, name_module, new_scope
from ._pyro import local_params
from .nn.convert import bayesian_layers, deterministic
from .priors import PRIOR_PARAMETER, Hierarchical

__all__ = ["BayesianModel", "Classifier", "Regressor"]


def _name_sites(net: nn.Module) -> Scope:
    """Name each top-most PyroModule by its path in ``net`` so sites are ``conv1.weight``,
    and give them all one shared context, which is returned.

    A PyroModule only learns its full name from a PyroModule parent; inside a plain
    ``nn.Module`` (a user's network) it would be anonymous, so we set it here. The shared
    context makes one model execution one PyroModule scope: a layer applied twice reuses
    its draw, and the scope is entered once per forward pass, not once per layer.
    """
    context = new_scope()
    for path, module in net.named_modules():
        if not isinstance(module, PyroModule):
            continue
        parent = net.get_submodule(path.rpartition(".")[0]) if path else None
        if parent is None or not isinstance(parent, PyroModule):
            name_module(module, path, context)
    return context


class BayesianModel(nn.Module, ABC):
    """Common base: a network, the training-set size, and the sampled sites."""

    def __init__(self, net: nn.Module, num_data: int) -> None:
        super().__init__()
        if not isinstance(num_data, int) or num_data < 1:
            raise ValueError(
                f"num_data must be a positive int (the training-set size), got {num_data!r}"
            )
        self.net = net
        self.num_data = num_data
        self._context = _name_sites(net)

    @property
    def weight_sites(self) -> list[str]:
        """Site names of every sampled weight/bias (= parameter paths in the network)."""
        return [
            layer.site_name(n) for _, layer in bayesian_layers(self.net) for n in layer.param_names
        ]

    @property
    def latent_sites(self) -> list[str]:
        """Every latent site: the weights, hierarchical priors' scales, learned noise."""
        scales = [
            layer.site_name("scale")
            for _, layer in bayesian_layers(self.net)
            if isinstance(layer.prior, Hierarchical)
        ]
        return self.weight_sites + scales + self._other_sites()

    def _other_sites(self) -> list[str]:
        return []

    def point_values(self) -> dict[str, torch.Tensor]:
        """The deterministic values of every sampled weight (the guide's initial means)."""
        return {
            layer.site_name(n): layer.get_buffer(f"{n}_point")
            for _, layer in bayesian_layers(self.net)
            for n in layer.param_names
        }

    @property
    def num_weights(self) -> int:
        """How many scalar weights are sampled (the dimension of the posterior)."""
        return sum(v.numel() for v in self.point_values().values())

    @torch.no_grad()
    def set_point_values(self, values: dict[str, torch.Tensor]) -> None:
        """Overwrite the sampled weights' deterministic values (e.g. with MAP weights)."""
        points = self.point_values()
        if set(values) != set(points):
            raise ValueError(
                f"point values must name every weight site: missing "
                f"{sorted(set(points) - set(values))}, unknown {sorted(set(values) - set(points))}"
            )
        for name, value in values.items():
            points[name].copy_(value)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Fresh initial weights, drawn as torch's layers draw theirs (``reset_parameters``
        of every layer that has one, from the global RNG): the sampled weights' point
        values and every deterministic layer, normalisation statistics included. Priors and
        their learned scales are left alone. A second start of a fit begins here."""
        plain = self.deterministic_net()
        for module in plain.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        fresh = dict(plain.named_parameters())
        self.set_point_values({site: fresh[site] for site in self.weight_sites})
        bayesian = {id(layer) for _, layer in bayesian_layers(self.net)}
        for module in self.net.modules():
            if id(module) not in bayesian and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def prior_parameters(self) -> list[nn.Parameter]:
        """Parameters of the priors themselves (learned prior scales, empirical Bayes)."""
        return [
            p
            for _, layer in bayesian_layers(self.net)
            for name, p in layer.named_parameters(recurse=False)
            if name.startswith(PRIOR_PARAMETER)
        ]

    def deterministic_net(self) -> nn.Module:
        """The same architecture in plain torch (Bayesian layers at their point values)."""
        return deterministic(self.net)

    def check_inputs(self, x: torch.Tensor) -> None:
        """Raise a ValueError if a batch ``x`` cannot be a minibatch of the training set."""
        check_batch_size(x.shape[0], self.num_data)

    def _data_plate(self, x: torch.Tensor) -> pyro.plate:
        """The data plate over a batch: its likelihood scaled by ``num_data / len(x)``."""
        return pyro.plate(
            "data", self.num_data, subsample=torch.arange(x.shape[0], device=x.device)
        )

    @torch.no_grad()
    def first_output(self, x: torch.Tensor, net: nn.Module | None = None) -> torch.Tensor:
        """The plain-torch network's output (eval mode) on the first input of a batch ``x``:
        what a fit checks the batch's targets against before it trains. Inputs the network
        was not built for fail here with a ValueError that names their shape. ``net``: the
        fit's plain network where it has one (left in eval mode)."""
        net = self.deterministic_net().to(x.device) if net is None else net
        with names_input_shape(x):
            return net.eval()(x[:1])

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        with local_params(), self._context:
            return self.net(x)

    @abstractmethod
    def link(self, output: torch.Tensor) -> torch.Tensor:
        """Map the network's output to the predictive quantity (probabilities, means)."""

    @abstractmethod
    def check_output(self, output: torch.Tensor, y: torch.Tensor | None) -> None:
        """Raise a ValueError if the network's ``output`` on a batch does not fit the
        model, or does not match the batch's targets ``y``."""

    @abstractmethod
    def check_targets(self, y: torch.Tensor, output: torch.Tensor) -> None:
        """Raise a ValueError naming the problem if ``y`` cannot be this model's targets."""

    @abstractmethod
    def likelihood(self, output: torch.Tensor, draw: dict[str, torch.Tensor] | None = None):
        """``p(y | output)`` per example (batch ``[B]``); ``draw`` holds any other latents."""

    def log_likelihood(
        self, output: torch.Tensor, y: torch.Tensor, draw: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Pointwise ``log p(y_n | x_n, w)`` ``[B]`` from the network's output for one draw."""
        return self.likelihood(output, draw).log_prob(y)

    def log_likelihood_draws(
        self, outputs: torch.Tensor, y: torch.Tensor, draws: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Pointwise log-likelihood ``[S, B]`` for outputs ``[S, B, ...]`` of ``S`` draws
        (``draws`` holds any other latents, ``[S, ...]`` each)."""
        return torch.stack(
            [
                self.log_likelihood(out, y, {k: v[s] for k, v in draws.items()})
                for s, out in enumerate(outputs)
            ]
        )


class Classifier(BayesianModel):
    """Categorical likelihood on the network's logits ``[B, C]``.

    Per-pixel labels ``[B, H, W]`` against logits ``[B, C, H, W]`` (segmentation) are
    accepted: each image is one plate element with an event over its pixels.
    """

    def __init__(self, net: nn.Module, num_data: int, num_classes: int | None = None) -> None:
        super().__init__(net, num_data)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(x)
        logits = self._net(x)
        self.check_output(logits, y)
        with self._data_plate(x):
            return pyro.sample("obs", self.likelihood(logits), obs=y)

    def likelihood(self, output, draw=None):
        logits = output.movedim(1, -1)
        return dist.Categorical(logits=logits).to_event(logits.dim() - 2)

    def log_likelihood(self, output, y, draw=None):
        # the likelihood's log_prob without building the distribution: the same numbers at
        # a fraction of the cost, on the training step's hot path
        logp = -F.cross_entropy(output, y, reduction="none")
        return logp.flatten(1).sum(1) if logp.dim() > 1 else logp

    def check_output(self, output: torch.Tensor, y: torch.Tensor | None) -> None:
        num_classes = output.shape[1]
        if self.num_classes is not None and num_classes != self.num_classes:
            raise ValueError(
                f"the network outputs {num_classes} classes, the model expects {self.num_classes}"
            )
        if y is not None and y.shape != output.movedim(1, -1).shape[:-1]:
            raise ValueError(
                f"labels of shape {tuple(y.shape)} do not match logits {tuple(output.shape)}"
            )

    def check_targets(self, y: torch.Tensor, output: torch.Tensor) -> None:
        check_labels(y, output.shape[1])
        self.width = output.shape[1]

    def check_width(self, largest: int, fit: str = "the fit") -> None:
        """Warn when the network has more outputs than the training labels have classes
        (``largest`` + 1): the extra classes are only ever pushed down, and their
        probability mass is spent on classes that do not exist."""
        width = getattr(self, "width", None)
        if width is not None and width > largest + 1:
            warnings.warn(
                f"{fit}: the network has {width} outputs but the training labels run "
                f"0..{largest} ({largest + 1} classes): build it with num_classes="
                f"{largest + 1}, or ignore this if those classes exist but are absent here",
                UserWarning,
                stacklevel=4,
            )

    def link(self, output):
        return output.softmax(dim=1)


class Regressor(BayesianModel):
    """A regression likelihood around the network's output.

    ``likelihood``:

    - ``"gaussian"``: ``N(output, noise^2)``; ``noise`` is a fixed standard deviation
      (float) or ``"learned"``: the latent site ``noise`` with a half-Cauchy(``noise_scale``)
      prior, inferred with the weights;
    - ``"heteroscedastic"``: the network outputs ``[B, 2 D]``, a mean and a raw scale per
      target, ``N(mean, softplus(raw)^2 + 1e-6)`` (Lakshminarayanan et al. 2017): the noise
      depends on the input;
    - ``"student_t"``: Student's t with ``df`` degrees of freedom around the output, its
      scale ``noise`` as for the Gaussian (heavy tails);
    - ``"heteroscedastic_t"``: Student's t with ``df`` degrees of freedom whose location
      and scale the network outputs as for ``"heteroscedastic"``: input-dependent noise
      with heavy tails (outliers pull the mean less than under a Gaussian).

    ``link`` gives the mean; ``moments`` the mean and the variance of one draw's
    likelihood, what the split into aleatoric and epistemic parts needs.
    """

    LIKELIHOODS = ("gaussian", "heteroscedastic", "student_t", "heteroscedastic_t")
    #: the likelihoods whose scale the network outputs beside the mean, ``[B, 2 D]``
    INPUT_SCALED = ("heteroscedastic", "heteroscedastic_t")
    #: the likelihoods with Student-t tails
    HEAVY_TAILED = ("student_t", "heteroscedastic_t")
    #: the variance floor of a heteroscedastic output
    MIN_VARIANCE = 1e-6

    def __init__(
        self,
        net: nn.Module,
        num_data: int,
        noise: float | str = "learned",
        noise_scale: float = 1.0,
        likelihood: str = "gaussian",
        df: float = 4.0,
    ) -> None:
        super().__init__(net, num_data)
        if likelihood not in self.LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; choose from {self.LIKELIHOODS}")
        if noise != "learned" and (isinstance(noise, str) or noise <= 0):
            raise ValueError(f"noise must be 'learned' or a positive float, got {noise!r}")
        if likelihood in self.HEAVY_TAILED and not df > 2:
            raise ValueError(f"the Student-t likelihood needs df > 2 (a variance), got {df}")
        self.likelihood_name, self.df = likelihood, df
        self.noise = noise if likelihood not in self.INPUT_SCALED else 1.0
        self.noise_scale = noise_scale

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(x)
        output = self._net(x)
        self.check_output(output, y)
        draw = None
        if self._other_sites():
            noise_prior = dist.HalfCauchy(torch.tensor(self.noise_scale).to(output))
            draw = {"noise": pyro.sample("noise", noise_prior)}
        with self._data_plate(x):
            return pyro.sample("obs", self.likelihood(output, draw), obs=y)

    def _scale(self, output: torch.Tensor, draw) -> tuple[torch.Tensor, torch.Tensor]:
        """The location and the scale of one draw's likelihood."""
        if self.likelihood_name in self.INPUT_SCALED:
            mean, raw = output.chunk(2, dim=-1)
            return mean, (torch.nn.functional.softplus(raw).square() + self.MIN_VARIANCE).sqrt()
        if self.noise == "learned":
            if draw is None or "noise" not in draw:
                raise ValueError("a Regressor with learned noise needs the draw's 'noise'")
            return output, draw["noise"].expand_as(output)
        return output, torch.tensor(self.noise).to(output).expand_as(output)

    def likelihood(self, output, draw=None):
        loc, scale = self._scale(output, draw)
        if self.likelihood_name in self.HEAVY_TAILED:
            base = dist.StudentT(torch.tensor(self.df).to(loc), loc, scale)
        else:
            base = dist.Normal(loc, scale)
        return base.to_event(loc.dim() - 1)

    def moments(self, output: torch.Tensor, draw=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and the variance of one draw's likelihood, each ``[B, D]``."""
        loc, scale = self._scale(output, draw)
        variance = scale.square()
        if self.likelihood_name in self.HEAVY_TAILED:
            variance = variance * self.df / (self.df - 2)
        return loc, variance

    def link(self, output):
        if self.likelihood_name in self.INPUT_SCALED:
            return output.chunk(2, dim=-1)[0]
        return output

    def check_output(self, output: torch.Tensor, y: torch.Tensor | None) -> None:
        mean = self.link(output)
        if self.likelihood_name in self.INPUT_SCALED and output.shape[-1] % 2:
            raise ValueError(
                f"a heteroscedastic regressor's network outputs a mean and a scale per target "
                f"([B, 2 D]); it outputs {tuple(output.shape)}"
            )
        if y is not None and y.shape != mean.shape:
            raise ValueError(
                f"targets of shape {tuple(y.shape)} do not match outputs {tuple(mean.shape)}"
            )

    def check_targets(self, y: torch.Tensor, output: torch.Tensor) -> None:
        check_finite(y, "regression targets")

    def _other_sites(self) -> list[str]:
        learned = self.noise == "learned" and self.likelihood_name not in self.INPUT_SCALED
        return ["noise"] if learned else []
