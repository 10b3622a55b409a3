"""The Laplace approximation: ``fit_laplace(net, loader, ...) -> Posterior``.

A Gaussian around a trained network's weights, ``N(w_MAP, P^-1)``, with ``P`` the
curvature of the negative log likelihood (its generalised Gauss-Newton) plus a Gaussian
prior's precision (MacKay 1992; Ritter et al. 2018; Daxberger et al. 2021). It turns a
network trained the usual way into a posterior in one pass over the data. The curvature,
its Kronecker-factored or diagonal structure and the marginal-likelihood choice of the
prior precision are laplace-torch's (an optional extra: ``pip install
"bayesnet[laplace]"``); this module wraps its result in a ``Posterior``, so ``predict``,
``compare``, attacks and ``to_arviz`` treat it like every other engine.

``predict`` samples the weights, ``w ~ N(w_MAP, P^-1)``, and runs the linearised (GLM)
predictive of Immer et al. (2021) with each draw: the network's first-order expansion
around ``w_MAP`` (``bn.nn.Linearized``). Over all weights (the default) that keeps each
draw near the mode's predictions, where ``predictive="nn"``, the network itself, throws it
out of its mode; for a last-layer Laplace the logits are linear in the sampled weights,
so the two are the same.
"""

from __future__ import annotations

import copy
import importlib
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from ..._checks import check_choice, check_finite
from ..._compat import laplace_state
from ..._state import keeps_caller_state
from ...data.loaders import count_examples, takes_data, training_batches
from ...device import resolve
from ...models import BayesianModel, Classifier, Regressor
from ...nn.linearized import Linearized
from ...posterior import Posterior, Sampler
from ...run import Run, run_settings
from ..shared.collapse import CollapseWarning, ignores_data, null_nll, predictive_nll
from ..shared.loop import first_batch

__all__ = [
    "fit_laplace",
    "laplace_predictive",
    "LaplaceSampler",
    "SUBSETS",
    "HESSIANS",
    "PREDICTIVES",
    "INSTALL",
]

SUBSETS = ("last_layer", "all")
HESSIANS = ("kron", "diag", "full")
PREDICTIVES = ("glm", "nn")
TASKS = ("classification", "regression")
#: the layers whose parameters K-FAC (``hessian="kron"``) covers; over all weights, the
#: others' (BatchNorm's affine parameters ...) keep their trained values
KFAC_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: the likelihood's default temperature: untempered, the Laplace predictive is
#: underconfident on every digits architecture; at 0.003 the GLM over all weights beats
#: the softmax there (benchmarks/RESULTS.md, "Laplace")
DEFAULT_TEMPERATURE = 0.003
#: the collapse check's posterior predictive: this many draws on up to this many examples
CHECK_DRAWS, CHECK_EXAMPLES = 32, 256
INSTALL = (
    'fit_laplace needs laplace-torch: pip install "bayesnet[laplace]" (on a CPU-only '
    "machine without a torchvision build: pip install --no-deps laplace-torch "
    "backpack-for-pytorch curvlinops-for-pytorch asdfghjkl==0.1a4, then pip install "
    "torchmetrics einops unfoldNd einconv linear_operator opt-einsum scipy)"
)


def _laplace_torch():
    """laplace-torch's ``Laplace`` factory, or an ImportError that says how to install it."""
    try:
        return importlib.import_module("laplace").Laplace
    except ImportError as error:
        raise ImportError(INSTALL) from error


def _fix_unsupported(net: nn.Module, options: dict[str, Any]) -> list[str]:
    """Freeze (and name) the parameters K-FAC over all weights cannot cover."""
    if options["subset"] != "all" or options["hessian"] != "kron":
        return []
    fixed = []
    for path, module in net.named_modules():
        if not isinstance(module, KFAC_LAYERS):
            for name, p in module.named_parameters(recurse=False):
                p.requires_grad_(False)
                fixed.append(f"{path}.{name}" if path else name)
    return fixed


def _build(net: nn.Module, options: dict[str, Any]):
    """laplace-torch's approximation of ``net`` for ``options`` (not yet fitted)."""
    layer = {"last_layer_name": options["last_layer"]} if options["subset"] == "last_layer" else {}
    return _laplace_torch()(
        net,
        options["task"],
        subset_of_weights=options["subset"],
        hessian_structure=options["hessian"],
        sigma_noise=options["noise"],
        prior_precision=options["prior_precision"],
        temperature=options["temperature"],
        **layer,
    )


class LaplaceSampler(Sampler):
    """Fresh weight draws from a fitted laplace-torch approximation: ``{name: [S, *shape]}``
    for the parameters it covers (``names``, in laplace-torch's flat order); the rest of
    the network keeps its trained values."""

    kind = "laplace"

    def __init__(
        self, approximation, names: list[tuple[str, list[int]]], options: dict[str, Any]
    ) -> None:
        self.approximation, self.names, self.options = approximation, names, options

    def sample(self, num_samples):
        flat = self.approximation.sample(
            self.options["num_samples"] if num_samples is None else num_samples
        )
        sizes = [int(torch.Size(shape).numel()) for _, shape in self.names]
        return {
            name: part.reshape(len(flat), *shape)
            for (name, shape), part in zip(self.names, flat.split(sizes, dim=1), strict=True)
        }

    def state(self):
        saved = laplace_state(self.approximation, self.options["last_layer"])
        return {"names": self.names, "options": self.options, "laplace": saved}

    @classmethod
    def from_state(cls, model, state, path):
        # a copy: laplace-torch reads which parameters it covers from requires_grad flags,
        # which must not be switched on the caller's model
        net = copy.deepcopy(model.net.net if isinstance(model.net, Linearized) else model.net)
        _fix_unsupported(net, state["options"])
        approximation = _build(net, state["options"])
        approximation.load_state_dict(state["laplace"])
        return cls(approximation, state["names"], state["options"])


@run_settings()
@takes_data
@keeps_caller_state
def fit_laplace(
    net: nn.Module | Posterior,
    loader: Iterable,
    *,
    subset: str = "all",
    hessian: str = "kron",
    prior_precision: str | float = "marglik",
    predictive: str = "glm",
    temperature: float = DEFAULT_TEMPERATURE,
    task: str = "classification",
    noise: float = 1.0,
    last_layer: str | None = None,
    num_samples: int = 100,
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int | None = None,
    run: Run | None = None,
) -> Posterior:
    """The Laplace posterior of a *trained* ``net`` on the training ``loader`` (a
    ``DataLoader``: laplace-torch reads its ``dataset`` for ``N``). ``net`` is a network or
    a point estimate (``bn.baselines.point_estimate(net, loader)``); it is left untouched,
    and its ``requires_grad`` flags are ignored: ``subset`` says which weights are covered.

    - ``subset``: ``"all"`` (default: every weight K-FAC covers, Linear and Conv layers;
      the rest, e.g. BatchNorm's affine parameters, keep their trained values and are
      listed in ``info["fixed"]``) or ``"last_layer"`` (``last_layer`` names it, None
      finds it);
    - ``hessian``: ``"kron"`` (K-FAC, default), ``"diag"`` or ``"full"`` (``P`` is
      ``num_params^2``: small subsets only);
    - ``prior_precision``: a float, or ``"marglik"`` (default): the precision that
      maximises the Laplace approximation of the marginal likelihood;
    - ``temperature``: the posterior is ``p(D | w)^(1/T) p(w)``, so the curvature counts
      ``1/T`` times (``DEFAULT_TEMPERATURE``: untempered, ``T = 1``, the Laplace
      predictive is underconfident on every digits architecture measured);
    - ``predictive``: ``"glm"`` (default): each draw runs the network linearised around
      its trained weights (``bn.nn.Linearized``; for the last layer, the network itself);
      ``"nn"``: the network itself;
    - ``task``: ``"classification"`` (softmax) or ``"regression"`` (Gaussian with fixed
      standard deviation ``noise``);
    - ``num_samples``: draws ``predict`` takes when asked for None;
    - ``seed``: the collapse check's draws come from torch's RNG seeded with it (the
      caller's is left as it was).

    ``info`` records the options, the chosen prior precision, the training NLL and
    ``collapsed``: a network that does not fit its data (an untrained one) gives a
    Laplace posterior that ignores the data, and warns with ``CollapseWarning``.
    """
    options = {
        "task": task,
        "subset": subset,
        "hessian": hessian,
        "noise": noise,
        "prior_precision": prior_precision,
        "last_layer": last_layer,
        "num_samples": num_samples,
        "predictive": predictive,
        "temperature": temperature,
    }
    _check_options(options)
    marglik = prior_precision == "marglik"
    options["prior_precision"] = 1.0 if marglik else float(prior_precision)
    num_data = count_examples(loader)  # what the loader yields, not len(loader.dataset)
    device = resolve(device)
    net = _trained_copy(net, device)
    x0, y0 = first_batch(loader)
    check_finite(x0, "training inputs")
    model = _model(net, options, num_data)
    with torch.no_grad():
        model.check_targets(y0.to(device), net(x0[:1].to(device)))

    start = time.perf_counter()
    fixed = _fix_unsupported(net, options)
    approximation = _build(net, options)
    approximation.fit(_Counted(loader, num_data), progress_bar=progress)
    if marglik:
        with warnings.catch_warnings():  # a notice about its own predictive, which we do not use
            warnings.filterwarnings("ignore", "By default `link_approx`", UserWarning)
            approximation.optimize_prior_precision(method="marglik")
    chosen = options["prior_precision"] = approximation.prior_precision.detach().cpu()
    names = _covered(approximation, net, options)
    post = Posterior(model, LaplaceSampler(approximation, names, options), {})

    nll, null = _training_nll(model, loader, device)
    x0, y0 = x0[:CHECK_EXAMPLES].to(device), y0[:CHECK_EXAMPLES].to(device)
    train_predictive = predictive_nll(post, x0, y0, CHECK_DRAWS)
    cause = _collapse_cause(nll, train_predictive, null, subset, chosen)
    post.info = {
        "engine": "laplace",
        **{
            k: options[k]
            for k in ("subset", "hessian", "predictive", "temperature", "task", "last_layer")
        },
        "prior_precision": chosen.item() if chosen.numel() == 1 else chosen.tolist(),
        "prior_precision_method": "marglik" if marglik else "fixed",
        "num_params": sum(int(torch.Size(s).numel()) for _, s in names),
        "fixed": fixed,
        "train_nll": nll,
        "train_predictive_nll": train_predictive,
        "null_nll": null,
        "collapsed": cause is not None,
        "seconds": time.perf_counter() - start,
    }
    if cause is not None:
        warnings.warn(cause, CollapseWarning, stacklevel=2)
    return post


def _check_options(options: dict[str, Any]) -> None:
    check_choice(options["subset"], SUBSETS, "subset")
    check_choice(options["hessian"], HESSIANS, "hessian")
    check_choice(options["task"], TASKS, "task")
    check_choice(options["predictive"], PREDICTIVES, "predictive")
    precision = options["prior_precision"]
    if isinstance(precision, str):
        check_choice(precision, ("marglik",), "prior_precision")
    elif precision <= 0:
        raise ValueError(f"prior_precision must be 'marglik' or > 0, got {precision}")
    if options["num_samples"] < 1 or options["noise"] <= 0 or options["temperature"] <= 0:
        raise ValueError(
            "need num_samples >= 1, noise > 0 and temperature > 0; got "
            f"{options['num_samples']}, {options['noise']}, {options['temperature']}"
        )


def _trained_copy(net: nn.Module | Posterior, device: torch.device) -> nn.Module:
    """A copy of the trained network (of a point estimate's), every weight differentiable:
    the caller's is left untouched."""
    if isinstance(net, Posterior):
        if net.sampler.sample(None):
            raise ValueError("fit_laplace starts from one network: a point estimate, not draws")
        net = net.model.net
    return copy.deepcopy(net).to(device).eval().requires_grad_(True)


def _linearized(options: dict[str, Any]) -> bool:
    """Whether the draws run the network linearised around its trained weights: the GLM
    predictive over all weights (over the last layer the network is already linear)."""
    return options["predictive"] == "glm" and options["subset"] == "all"


def _model(net: nn.Module, options: dict[str, Any], num_data: int) -> BayesianModel:
    """The likelihood of ``options["task"]`` over ``net``, or over ``net`` linearised."""
    predictor = Linearized(net) if _linearized(options) else net
    if options["task"] == "classification":
        return Classifier(predictor, num_data)
    return Regressor(predictor, num_data, noise=options["noise"])


def _covered(approximation, net: nn.Module, options: dict[str, Any]) -> list[tuple[str, list]]:
    """The names (as the posterior's model calls them) and shapes of the weights the
    approximation covers; for the last layer, ``options["last_layer"]`` records its name."""
    if options["subset"] == "last_layer":
        extractor = approximation.model  # laplace-torch's wrapper of its copy of net
        layer = options["last_layer"] = next(
            n for n, m in extractor.model.named_modules() if m is extractor.last_layer
        )
        return [(f"{layer}.{n}", list(p.shape)) for n, p in extractor.last_layer.named_parameters()]
    prefix = "net." if _linearized(options) else ""  # Linearized keeps net's under net.
    return [(prefix + n, list(p.shape)) for n, p in net.named_parameters() if p.requires_grad]


class _Counted:
    """The caller's loader as laplace-torch reads one: it takes the number of examples from
    ``len(loader.dataset)``; here it is what iterating the loader counted."""

    def __init__(self, loader: Iterable, num_data: int) -> None:
        self.loader, self.dataset = loader, range(num_data)

    def __iter__(self) -> Iterator:
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)


def _collapse_cause(
    nll: float, predictive: float, null: float, subset: str, precision: torch.Tensor
) -> str | None:
    """Why the posterior predictive ignores the data (None when it does not): an untrained
    network, or draws that throw a trained one out of its mode."""
    if not ignores_data(predictive, null):
        return None
    against = f"against {null:.3f} for a guess that ignores the inputs"
    if ignores_data(nll, null):
        return (
            f"the network does not fit its training data (NLL {nll:.3f} nats per example "
            f"{against}), so its Laplace posterior ignores the data too. The approximation "
            "is taken around a trained network: train it first "
            "(bn.baselines.point_estimate(net, loader))."
        )
    return (
        f"the Laplace posterior predictive ignores the data: its training NLL is "
        f"{predictive:.3f} nats per example, the network's own {nll:.3f}, {against}. Its "
        f"draws of the {subset!r} weights (prior precision {precision.tolist()}) throw the "
        "network out of its mode; use predictive='glm', subset='last_layer' or a larger "
        "prior_precision."
    )


@torch.no_grad()
def _training_nll(model: BayesianModel, loader: Iterable, device: torch.device):
    """The network's mean training NLL per example and that of the input-free guess."""
    total, count, targets = 0.0, 0, []
    for x, y in training_batches(loader):
        x, y = x.to(device), y.to(device)
        total -= model.log_likelihood(model.net(x), y).sum().item()
        count += len(x)
        targets.append(y.cpu())
    return total / count, null_nll(torch.cat(targets), isinstance(model, Classifier))


def laplace_predictive(post: Posterior, predictive: str) -> Posterior:
    """The same Laplace posterior (the same approximation, the same draws for the same RNG
    state) predicting through the network linearised at the mode (``"glm"``) or the
    network itself (``"nn"``): the predictive is a choice of prediction, made here without
    refitting. With ``subset="last_layer"`` the two coincide and ``post`` is returned."""
    check_choice(predictive, PREDICTIVES, "predictive")
    sampler = post.sampler
    if not isinstance(sampler, LaplaceSampler):
        raise ValueError(f"laplace_predictive needs a Laplace posterior, got {sampler.kind!r}")
    options = sampler.options
    if options["predictive"] == predictive or options["subset"] != "all":
        return post
    net = post.model.net.net if isinstance(post.model.net, Linearized) else post.model.net
    switched_options = {**options, "predictive": predictive}
    model = _model(net, switched_options, post.model.num_data)
    linearize = _linearized(switched_options)
    # Linearized keeps net's parameters under "net.": add the prefix, or take it off
    names = [
        (f"net.{name}" if linearize else name[len("net.") :], shape)
        for name, shape in sampler.names
    ]
    switched = LaplaceSampler(sampler.approximation, names, switched_options)
    return Posterior(model, switched, {**post.info, "predictive": predictive})
