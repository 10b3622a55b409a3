"""Posterior diagnostics in ArviZ.

``to_arviz`` exports any Posterior (SVI draws appear as one chain) to
``arviz.InferenceData``. Weight-space R-hat is not meaningful for networks: permuting
hidden units or flipping signs gives the same function, so chains that agree on every
prediction can disagree on every weight. ``summary`` therefore reports R-hat and ESS of
*function-space* quantities — predictive probabilities and pointwise log-likelihoods on
evaluation inputs, and the log predictive density — beside ArviZ's weight-space table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import arviz as az
import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from .models import Classifier


class PosteriorLike(Protocol):
    """What diagnostics reads of a posterior (``bayesnet.Posterior`` is one; diagnostics
    never builds one, and does not import ``posterior``, which defers ``to_arviz`` here)."""

    model: nn.Module
    sampler: Any
    info: dict[str, Any]

    def sample_params(self, num_samples: int | None) -> dict[str, torch.Tensor]: ...

    def forward(self, x: torch.Tensor, draws: dict[str, torch.Tensor], *args, **kwargs): ...


__all__ = ["to_arviz", "summary", "compare", "Diagnostics"]

#: per-chain summaries of the sampler statistics an engine records (HMC records all;
#: SG-MCMC its step sizes only)
CHAIN_COLUMNS = {
    "divergences": ("diverging", lambda v: int(v.sum())),
    "step_size": ("step_size", lambda v: float(v.mean())),
    "acceptance_rate": ("acceptance_rate", lambda v: float(v[-1])),
    "mean_n_steps": ("n_steps", lambda v: float(v.mean())),
}


def _draws(posterior: PosteriorLike, num_samples: int) -> tuple[dict[str, torch.Tensor], int, int]:
    """Draws as ``{site: [chains * draws, ...]}`` with the chain and draw counts."""
    stored = posterior.sampler.kind == "draws"
    if stored and not posterior.sampler.draws:
        point = {k: v.detach()[None] for k, v in posterior.net.named_parameters()}
        return point, 1, 1
    if stored:
        draws = posterior.sample_params(None)  # with each draw's BatchNorm statistics
        chains = posterior.sampler.chains
        return draws, chains, posterior.sampler.num_draws // chains
    if posterior.sampler.kind == "mixture":  # one chain per component: R-hat across starts
        chains = len(posterior.sampler.components)
        draws = posterior.sample_params(max(1, num_samples // chains) * chains)
        # components that store their draws (point estimates, MCMC) give what they hold
        total = len(next(iter(draws.values())))
        if total % chains:
            raise ValueError(
                f"the mixture's {chains} components gave {total} draws in all: ArviZ needs "
                "as many from each (mix components that hold equally many draws)"
            )
        return draws, chains, total // chains
    return posterior.sample_params(num_samples), 1, num_samples


def _by_chain(t: torch.Tensor, chains: int, draws: int) -> np.ndarray:
    return t.detach().cpu().reshape(chains, draws, *t.shape[1:]).numpy()


def to_arviz(
    posterior: PosteriorLike,
    x_eval: torch.Tensor | None = None,
    y_eval: torch.Tensor | None = None,
    num_samples: int = 200,
) -> az.InferenceData:
    """``arviz.InferenceData`` with ``posterior`` (every sampled tensor under its module
    path, dims ``<name>_dim_<i>``), ``sample_stats`` for MCMC, and on ``(x_eval, y_eval)``
    ``posterior_predictive`` (sampled ``obs`` and the predictive ``probs``),
    ``log_likelihood`` (pointwise ``obs``, for ``az.loo``/``az.waic``) and ``observed_data``.

    SVI posteriors contribute ``num_samples`` guide draws as one chain; a mixture (several
    starts) one chain per component, so R-hat says whether the starts agree. Labels are
    checked as in training (integer classes in range, one per input). A point estimate
    exports its single draw; ``az.loo`` cannot use it (``bayesnet.diagnostics.compare``
    says so by name).
    """
    draws, chains, per_chain = _draws(posterior, num_samples)
    post = {k: _by_chain(v, chains, per_chain) for k, v in draws.items()}
    dims = {k: [f"{k}_dim_{i}" for i in range(v.ndim - 2)] for k, v in post.items()}
    groups: dict[str, dict] = {"posterior": post}

    stats = getattr(posterior.sampler, "stats", None)
    if stats:
        arrays = {k: np.asarray(v, dtype=float) for k, v in stats.items()}
        if "diverging" in arrays:
            arrays["diverging"] = arrays["diverging"].astype(bool)
        groups["sample_stats"] = arrays

    if x_eval is not None:
        outputs = posterior.forward(x_eval, draws, link=False)
        classifier = isinstance(posterior.model, Classifier)
        name = "probs" if classifier else "mean"  # the predictive quantity per draw
        probs = posterior.model.link(outputs.flatten(0, 1)).reshape(outputs.shape)
        groups["posterior_predictive"] = {name: _by_chain(probs, chains, per_chain)}
        dims[name] = ["obs_dim_0", "class"] if classifier else []
        if y_eval is not None:
            y = torch.as_tensor(y_eval).to(outputs.device)
            if y.shape[:1] != outputs.shape[1:2]:
                raise ValueError(
                    f"y_eval has {y.shape[0] if y.dim() else 0} labels for "
                    f"{outputs.shape[1]} inputs in x_eval"
                )
            posterior.model.check_targets(y, outputs[0])
            per_draw = [{k: v[s] for k, v in draws.items()} for s in range(outputs.shape[0])]
            likelihoods = [
                posterior.model.likelihood(o, d) for o, d in zip(outputs, per_draw, strict=True)
            ]
            # pointwise as the observations are laid out: per label for a classifier, per
            # target element for a regressor (its likelihood is an event over the outputs)
            log_lik = torch.stack(
                [_elementwise(likelihood).log_prob(y) for likelihood in likelihoods]
            )
            sampled = torch.stack([likelihood.sample() for likelihood in likelihoods])
            groups["log_likelihood"] = {"obs": _by_chain(log_lik, chains, per_chain)}
            groups["posterior_predictive"]["obs"] = _by_chain(sampled, chains, per_chain)
            groups["observed_data"] = {"obs": y.cpu().numpy()}
            obs_dims = [f"obs_dim_{i}" for i in range(y.dim())]
            dims["obs"] = obs_dims
            dims[name] = [obs_dims[0], "class", *obs_dims[1:]] if classifier else obs_dims
    idata = az.from_dict(**groups, dims=dims)
    idata.posterior.attrs["engine"] = str(posterior.info.get("engine", "unknown"))
    return idata


def _elementwise(likelihood):
    """A regressor's Gaussian without its event dimensions (one term per target element);
    a classifier's categorical as it is."""
    return getattr(likelihood, "base_dist", likelihood)


@dataclass
class Diagnostics:
    """Function-space and weight-space convergence summaries and per-chain statistics."""

    function_space: pd.DataFrame
    weight_space: pd.DataFrame | None
    chains: pd.DataFrame

    def __str__(self) -> str:
        text = (
            "function space (R-hat and ESS over predictions on the evaluation inputs)\n"
            f"{self.function_space.to_string()}\n\n"
        )
        if self.weight_space is not None:
            weights = self.weight_space[["r_hat", "ess_bulk"]].describe()
            text += (
                "weight space (not meaningful for networks: symmetries; shown for reference)\n"
                f"{weights.loc[['mean', 'min', 'max']].to_string()}\n\n"
            )
        chains = self.chains.to_string() if len(self.chains) else "(no sampler statistics)"
        return f"{text}chains\n{chains}"


def _function_rows(name: str, data: xr.DataArray) -> dict:
    """R-hat and bulk ESS of every element of ``data`` (dims chain, draw, ...), summarised."""
    dataset = xr.Dataset({name: data})
    rhat = az.rhat(dataset)[name].values.ravel()
    ess = az.ess(dataset)[name].values.ravel()
    finite = rhat[np.isfinite(rhat)]
    return {
        "quantity": name,
        "count": rhat.size,
        "r_hat_max": float(finite.max()) if finite.size else math.nan,
        "r_hat_median": float(np.median(finite)) if finite.size else math.nan,
        "frac_r_hat_gt_1.1": float((finite > 1.1).mean()) if finite.size else math.nan,
        "ess_min": float(np.nanmin(ess)),
        "ess_median": float(np.nanmedian(ess)),
    }


def summary(
    source: PosteriorLike | az.InferenceData,
    x_eval: torch.Tensor | None = None,
    y_eval: torch.Tensor | None = None,
    weights: bool = False,
) -> Diagnostics:
    """Function-space R-hat/ESS (predictive probabilities, pointwise log-likelihood, log
    predictive density) and divergences and step sizes per chain; with ``weights=True``
    also ArviZ's weight-space table (slow over every weight of a network, and not
    meaningful there: its symmetries). A Posterior needs ``x_eval`` (and ``y_eval`` for the
    likelihood terms)."""
    idata = source if isinstance(source, az.InferenceData) else to_arviz(source, x_eval, y_eval)
    rows = []
    if "posterior_predictive" in idata.groups() and "probs" in idata.posterior_predictive:
        rows.append(_function_rows("probs", idata.posterior_predictive["probs"]))
    if "log_likelihood" in idata.groups():
        log_lik = idata.log_likelihood["obs"]
        rows.append(_function_rows("log_lik", log_lik))
        rows.append(
            _function_rows(
                "lpd", log_lik.sum([d for d in log_lik.dims if d not in ("chain", "draw")])
            )
        )
    if not rows:
        raise ValueError(
            "function-space diagnostics need evaluation inputs (x_eval, and y_eval for the likelihood)"
        )
    table = az.summary(idata, kind="diagnostics", group="posterior") if weights else None
    chain_rows = []
    if "sample_stats" in idata.groups():
        stats = idata.sample_stats
        for c in stats.chain.values:
            row = {"chain": int(c)}
            for column, (name, reduce) in CHAIN_COLUMNS.items():
                if name in stats:
                    row[column] = reduce(stats[name].sel(chain=c))
            chain_rows.append(row)
    return Diagnostics(pd.DataFrame(rows).set_index("quantity"), table, pd.DataFrame(chain_rows))


def compare(
    sources: dict[str, PosteriorLike | az.InferenceData], x_eval=None, y_eval=None, **kwargs
) -> pd.DataFrame:
    """``az.compare`` on PSIS-LOO for posteriors of different priors or architectures,
    evaluated on the same data (Posteriors are exported on ``(x_eval, y_eval)``)."""
    idatas = {
        name: s if isinstance(s, az.InferenceData) else to_arviz(s, x_eval, y_eval)
        for name, s in sources.items()
    }
    missing = [n for n, d in idatas.items() if "log_likelihood" not in d.groups()]
    if missing:
        raise ValueError(f"{missing} have no pointwise log-likelihood: export them with y_eval")
    single = [
        n for n, d in idatas.items() if d.posterior.sizes["chain"] * d.posterior.sizes["draw"] < 2
    ]
    if single:
        raise ValueError(
            f"{single} have a single draw (a point estimate or temperature scaling): PSIS-LOO "
            "needs several posterior draws, so it cannot rank them"
        )
    return az.compare(idatas, ic="loo", **kwargs)
