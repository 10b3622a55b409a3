"""Shift suites, splits, attacks, the toy problem, per-pixel maps and compare's report."""

import math
import re
from html import unescape

import pytest
import torch
from conftest import loader_of

import bayesnet as bn
from bayesnet.evaluate import SECTIONS, attacks, compare, metrics, pixel, shift, toy
from bayesnet.evaluate.findings import findings, regression_findings
from bayesnet.infer import baselines


@pytest.fixture(scope="module")
def softmax(digits):
    torch.manual_seed(0)
    return baselines.point_estimate(
        bn.zoo.digits_cnn(), loader_of(*digits[0].tensors, 64), epochs=15, progress=False
    )


@pytest.fixture(scope="module")
def svi(softmax, digits):
    model = bn.Classifier(bn.bayesianize(softmax.net, prior=bn.priors.Normal(1.0)), num_data=1437)
    return bn.fit_svi(
        model,
        loader_of(*digits[0].tensors, 64),
        epochs=3,
        init="point_estimate",
        temperature=0.1,
        lr_decay=1.0,
        progress=False,
        seed=0,
    )


# -- shifts and splits ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(shift.SHIFTS))
def test_every_shift_is_the_identity_at_severity_zero_and_grows(name, digits):
    x = digits[1].tensors[0][:50]
    fn, severities = shift.SHIFTS[name]
    assert torch.allclose(fn(x, 0.0), x, atol=1e-6)
    change = [(fn(x, s) - x).abs().mean().item() for s in severities]
    assert change == sorted(change) and change[-1] > 0.1


def test_natural_patches_are_photographs_not_digits(digits):
    x = digits[1].tensors[0][:40]
    patches = shift.natural_patches(x, seed=0)
    assert patches.shape == x.shape
    assert patches.amin((1, 2, 3)).eq(0).all() and patches.amax((1, 2, 3)).eq(1).all()
    torch.testing.assert_close(shift.natural_patches(x, seed=0), patches)
    assert not torch.allclose(shift.natural_patches(x, seed=1), patches)

    # neighbouring pixels of a photograph are alike; of uniform noise they are not
    def roughness(images):
        return (images[..., 1:] - images[..., :-1]).abs().mean().item()

    assert roughness(patches) < roughness(shift.noise_like(x)) / 2
    colour = shift.natural_patches(torch.rand(4, 3, 32, 32), seed=0)
    assert colour.shape == (4, 3, 32, 32) and not torch.allclose(colour[:, 0], colour[:, 1])
    with pytest.raises(ValueError, match="1- or 3-channel"):
        shift.natural_patches(torch.rand(2, 2, 8, 8))


def test_blur_and_inversion_exact_cases():
    flat = torch.full((2, 1, 8, 8), 0.3)
    assert torch.allclose(shift.blur(flat, 1.5), flat)  # a constant image stays constant
    spike = torch.zeros(1, 1, 9, 9)
    spike[0, 0, 4, 4] = 1.0
    blurred = shift.blur(spike, 1.0)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)  # mass kept away from edges
    assert blurred[0, 0, 4, 4] / blurred[0, 0, 4, 5] == pytest.approx(math.exp(0.5), rel=1e-4)
    x = torch.tensor([[[[0.0, 0.25], [0.5, 1.0]]]])
    assert torch.allclose(shift.invert(x, 1.0), 1 - x)
    assert torch.allclose(shift.invert(x, 0.5), torch.full_like(x, 0.5))


def test_held_out_classes_and_validation_split(digits):
    train, _ = digits
    kept, ood = bn.data.held_out_classes(train, [3, 8])
    y = train.tensors[1]
    assert len(ood) == int(((y == 3) | (y == 8)).sum())
    assert sorted(kept.tensors[1].unique().tolist()) == list(range(8))
    assert int((kept.tensors[1] == 3).sum()) == int((y == 4).sum())  # 4 renumbered to 3
    with pytest.raises(ValueError, match="non-empty subset"):
        bn.data.held_out_classes(train, [11])
    with pytest.raises(ValueError, match="fewer than two classes"):
        bn.data.held_out_classes(train, range(1, 10))
    fit, val = bn.data.validation_split(train, 0.1, seed=0)
    assert (len(fit), len(val)) == (1293, 144)
    # stratified by class: each class loses a tenth of its examples, to within one
    per_class, in_val = torch.bincount(y), torch.bincount(val.tensors[1], minlength=10)
    assert ((in_val - 0.1 * per_class).abs() <= 1).all()
    assert torch.equal(val.tensors[1], bn.data.validation_split(train, 0.1, seed=0)[1].tensors[1])
    assert not torch.equal(val.tensors[0], bn.data.validation_split(train, 0.1, 1)[1].tensors[0])
    # real-valued targets, or a class with one example, split at random: still a partition
    for targets in (
        torch.zeros(100),
        torch.cat([torch.zeros(99, dtype=torch.long), torch.ones(1, dtype=torch.long)]),
    ):
        index = torch.utils.data.TensorDataset(torch.arange(100), targets)
        fit, val = bn.data.validation_split(index, 0.2, seed=1)
        assert sorted(fit.tensors[0].tolist() + val.tensors[0].tolist()) == list(range(100))
        assert len(val) == 20


# -- attacks -------------------------------------------------------------------------


def test_fgsm_at_zero_is_harmless_and_accuracy_falls_with_epsilon(softmax, digits):
    x, y = (t[:200] for t in digits[1].tensors)
    clean = metrics.accuracy(softmax.predict(x), y)
    assert metrics.accuracy(softmax.predict(attacks.fgsm(softmax, x, y, 0.0)), y) == clean
    acc = [
        metrics.accuracy(softmax.predict(attacks.fgsm(softmax, x, y, e)), y)
        for e in (0.05, 0.1, 0.2)
    ]
    assert clean > acc[0] > acc[1] > acc[2] and acc[2] < 0.5
    adv = attacks.pgd(softmax, x, y, 0.1)
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert metrics.accuracy(softmax.predict(adv), y) <= acc[1]  # PGD is at least as strong


def test_attack_on_the_posterior_predictive(svi, digits):
    x, y = (t[:100] for t in digits[1].tensors)
    clean = metrics.accuracy(svi.predict(x, 30), y)
    adv = attacks.fgsm(svi, x, y, 0.2, num_samples=10)
    assert metrics.accuracy(svi.predict(adv, 30), y) < clean - 0.2
    with pytest.raises(ValueError, match="epsilon"):
        attacks.fgsm(svi, x, y, -0.1)


def test_fooling_images_fool_the_softmax(softmax):
    fooled = attacks.fooling_images(softmax, (1, 8, 8), list(range(10)), steps=100)
    probs = softmax.predict(fooled)[0]
    assert (probs.argmax(-1) == torch.arange(10)).all()
    assert probs.max(-1).values.min() > 0.99
    assert fooled.min() >= 0 and fooled.max() <= 1


# -- far from the data ---------------------------------------------------------------


def _moons_softmax():
    torch.manual_seed(0)
    train = bn.data.two_moons(200, seed=0)
    loader = bn.data.to_loader(train, 50, seed=0)
    return (
        train,
        loader,
        baselines.point_estimate(
            bn.zoo.mlp(2, 2, (16, 16)), loader, epochs=300, lr=1e-2, progress=False
        ),
    )


@pytest.mark.slow
def test_far_from_the_data_the_softmax_is_certain_and_the_posterior_is_not():
    train, loader, point = _moons_softmax()
    x, y = train.tensors
    model = bn.Classifier(bn.bayesianize(point.net, prior=bn.priors.Normal(1.0)), num_data=200)
    post = bn.fit_svi(
        model,
        loader,
        epochs=300,
        init="point_estimate",
        temperature=1.0,
        lr_decay=1.0,
        progress=False,
        seed=0,
    )
    assert metrics.accuracy(point.predict(x), y) > 0.97
    assert metrics.accuracy(post.predict(x), y) > 0.95
    assert toy.far_confidence(point, x) > 0.99
    assert toy.far_confidence(post, x) < 0.96
    fig = toy.toy_figure({"softmax": point, "svi": post}, (x, y))
    assert len(fig.axes) == 3  # two panels and the colour bar
    with pytest.raises(ValueError, match="2-D inputs"):
        toy.far_points(torch.zeros(5, 3))


@pytest.mark.slow
def test_far_from_the_data_with_hmc():
    train, _, point = _moons_softmax()
    x, y = train.tensors
    model = bn.Classifier(bn.bayesianize(point.net, prior=bn.priors.Normal(1.0)), num_data=200)
    post = bn.fit_hmc(
        model, (x, y), num_samples=100, warmup=100, max_tree_depth=6, progress=False, seed=0
    )
    assert metrics.accuracy(post.predict(x, None), y) > 0.95
    assert toy.far_confidence(post, x) < 0.95 < toy.far_confidence(point, x)


# -- per-pixel -----------------------------------------------------------------------


def test_digit_scenes_labels_and_unfamiliar_objects(digits):
    scenes = bn.data.digit_scenes(digits[1], 20, unfamiliar=2, seed=3)
    assert scenes.images.shape == (20, 1, 24, 24) and scenes.labels.shape == (20, 24, 24)
    digit = scenes.labels < bn.data.scenes.BACKGROUND
    assert (scenes.images[:, 0][digit] > 0.25).all()  # labelled pixels carry ink
    assert not (digit & scenes.unfamiliar).any()
    assert scenes.unfamiliar.flatten(1).any(1).all()  # every scene got its objects
    assert (scenes.images[:, 0][scenes.unfamiliar] == 1).all()
    with pytest.raises(ValueError, match="do not fit"):
        bn.data.digit_scenes(digits[1], 2, digits_per_scene=(2, 8), unfamiliar=2)


def test_pixel_metrics_and_maps_exact():
    labels = torch.tensor([[[0, 1], [2, 2]]])  # one 2x2 image, 3 classes
    perfect = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()[None]
    found = pixel.pixel_metrics(perfect, labels)
    assert found == {
        "pixel_accuracy": 1.0,
        "pixel_nll": pytest.approx(0, abs=1e-9),
        "pixel_ece": 0.0,
    }
    draws = torch.stack([perfect[0], perfect[0].roll(1, dims=1)])  # two draws that disagree
    maps = pixel.uncertainty_maps(draws)
    assert maps["epistemic"].shape == (1, 2, 2)
    assert torch.allclose(
        maps["epistemic"], torch.full((1, 2, 2), math.log(2), dtype=torch.float64)
    )
    assert torch.allclose(maps["aleatoric"], torch.zeros(1, 2, 2, dtype=torch.float64))
    assert bn.zoo.fcn()(torch.zeros(2, 1, 24, 24)).shape == (2, 11, 24, 24)
    with pytest.raises(ValueError, match="3 pixel labels for 4"):
        pixel.pixel_metrics(perfect, labels.flatten()[:3])


# -- compare -------------------------------------------------------------------------


class Fixed:
    def __init__(self, probs):
        self.probs = probs

    def predict(self, x, num_samples=None):
        return self.probs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": {"m": Fixed(torch.full((1, 360, 10), 0.2))}}, "sum to one"),
        ({"methods": {"m": Fixed(torch.full((1, 360, 10), float("nan")))}}, "NaN"),
        ({"methods": {"m": Fixed(torch.full((1, 300, 10), 0.1))}}, "360 labels for 300"),
        ({"methods": {"m": Fixed(torch.ones(1, 360, 1))}}, "at least two classes"),
        ({"ood": {"small": torch.zeros(5, 1, 4, 4)}}, "has input shape"),
        ({"shifts": {"rotation": []}}, "empty severity list"),
        ({"shifts": {"fog": [1.0]}}, "not one of"),
        ({"attacks": {"fgsm": []}}, "empty epsilon list"),
        ({"scores": ("entropy", "vibes")}, "unknown uncertainty scores"),
        ({"methods": {}}, "at least one method"),
    ],
)
def test_compare_names_bad_input(kwargs, message, softmax, digits):
    args = {"methods": {"softmax": softmax}, "test": digits[1].tensors, **kwargs}
    with pytest.raises(ValueError, match=message):
        compare(**args)


def test_report_has_every_section_and_tidy_rows(softmax, svi, digits, tmp_path):
    x, y = digits[1].tensors
    report = compare(
        {"softmax": softmax, "svi": svi},
        test=(x, y),
        ood={"noise": shift.noise_like(x)},
        shifts={"rotation": [0, 45], "blur": (shift.blur, [0.0, 1.0])},
        attacks={"fgsm": [0, 0.1]},
        num_samples=20,
        attack_size=50,
    )
    kinds = [(r["method"], r["kind"], r["condition"], r["severity"]) for r in report.rows]
    assert len(kinds) == len(set(kinds)) == 2 * (1 + 1 + 4 + 2)
    test_row = next(r for r in report.rows if r["method"] == "svi" and r["kind"] == "test")
    assert test_row["nll"] == report.summaries["svi"]["test"].nll()
    soft_row = next(r for r in report.rows if r["method"] == "softmax" and r["kind"] == "test")
    assert soft_row["nll"] == pytest.approx(metrics.nll(softmax.predict(x), y), rel=1e-9)
    soft_ood = next(r for r in report.rows if r["method"] == "softmax" and r["kind"] == "ood")
    assert "auroc_mi" not in soft_ood and 0 <= soft_ood["fpr95_entropy"] <= 1
    fgsm0 = [r for r in report.rows if r["kind"] == "attack" and r["severity"] == 0]
    assert fgsm0[0]["accuracy"] == metrics.accuracy(softmax.predict(x[:50]), y[:50])
    report.add_figure("Far from the data", b"\x89PNG fake")
    html = report.to_html(tmp_path / "r.html").read_text()
    drawn_elsewhere = (
        "Metrics",
        "Per-pixel uncertainty",
        "In between the data",
        "Common corruptions",
    )
    with_figures = [s for s in SECTIONS if s not in drawn_elsewhere]
    headings = re.findall(r"<h2 id='[^']+'>([^<]+)</h2>", html)
    assert headings == ["What this run shows", *with_figures, "Tables"]
    assert html.count("data:image/png;base64,") == html.count("<figcaption>") == 7
    # every table is collapsed, and scrolls inside itself
    assert html.count("<table>") == 4
    assert html.count("<details><summary>") == 4
    assert html.count("<div class='scroll'><table>") == 4
    # the findings quote the rows: each number in them is a row's value, rounded
    shows = html.split("<h2 id='reliability'>")[0]
    for finding in findings(report.rows):
        assert finding.text in unescape(shows)
        for (method, kind, condition, severity, column), value in finding.values.items():
            row = next(
                r
                for r in report.rows
                if (r["method"], r["kind"], r["condition"], r["severity"])
                == (method, kind, condition, severity)
            )
            assert row[column] == value and f"{value:.3f}" in finding.text
    assert "| svi | shift | rotation | 45.0000 |" in report.to_markdown()
    with pytest.raises(ValueError, match="unknown report section"):
        report.add_figure("Appendix", b"")


def test_a_method_keeps_its_colour_where_others_are_missing():
    rows = [
        {
            "method": m,
            "kind": "shift",
            "condition": "rotation",
            "severity": s,
            "accuracy": 0.9,
            "mi": None if m == "softmax" else 0.1,
        }
        for m in ("softmax", "svi")
        for s in (0.0, 45.0)
    ]
    fig = bn.evaluate.plots.metric_curves(rows, "shift", ("accuracy", "mi"), "severity")
    acc, mi = (ax.get_lines() for ax in fig.axes)
    svi_acc = next(line for line in acc if line.get_label() == "svi")
    assert [line.get_label() for line in mi] == ["svi"]
    assert mi[0].get_color() == svi_acc.get_color() != acc[0].get_color()


def _row(method, kind, condition, severity=None, **values):
    return {"method": method, "kind": kind, "condition": condition, "severity": severity, **values}


def test_findings_say_where_the_posterior_does_not_do_better():
    rows = [
        _row("softmax", "test", "test", ece=0.01, adaptive_ece=0.008, nll=0.08, mi=None),
        _row("svi", "test", "test", ece=0.02, adaptive_ece=0.009, nll=0.05, mi=0.004),
        _row("softmax", "ood", "noise", confidence=0.76, mi=None, auroc_entropy=0.93),
        _row("svi", "ood", "noise", confidence=0.51, mi=0.05, auroc_entropy=0.98),
        _row("softmax", "shift", "blur", 2.0, nll=0.9),
        _row("svi", "shift", "blur", 2.0, nll=1.1),
        _row("hmc", "toy", "two moons", confidence=0.6),  # no test row: not "the posterior"
    ]
    sets = {
        "softmax": dict(coverage_aps=0.91, size_aps=1.2, coverage_credible=0.85),
        "svi": dict(coverage_aps=0.92, size_aps=1.3, coverage_credible=0.95, size_credible=1.4),
    }
    for row in rows[:2]:
        row.update(set_level=0.9, **sets[row["method"]])
    for method, nll5, cover5 in (("softmax", 1.5, 0.7), ("svi", 1.6, 0.65)):
        rows += [
            _row(method, "corruption", "fog", 1, nll=0.3),
            _row(method, "corruption", "fog", 5, nll=nll5),
            _row(method, "corruption", "mean", 1, accuracy=0.9, nll=0.3, ece=0.04),
            _row(method, "corruption", "mean", 5, accuracy=0.6, nll=nll5, ece=0.2),
        ]
        rows[-1].update(
            coverage_aps=cover5, size_aps=2.0, coverage_credible=cover5, size_credible=2.5
        )
    calibration, far, fooled, split, flags, coverage, corrupted = findings(rows)
    assert coverage.text == (
        "Sets at level 0.900: on test digits the softmax's split-conformal sets (APS, "
        "calibrated on held-out data, guaranteed at least that coverage here) cover 0.910 of "
        "labels with 1.200 classes on average; the posterior's credible sets (svi, no "
        "calibration) cover 0.950 with 1.400. Under the 1 corruptions at severity 5 (mean) "
        "the guarantee no longer applies: the softmax's sets cover 0.700 (size 2.000), the "
        "credible sets 0.650 (size 2.500). Here the posterior's sets do not cover more than "
        "the softmax's."
    )
    assert corrupted.text == (
        "Averaged over 1 corruptions (Ovadia et al.'s protocol), at severity 1 the softmax "
        "has accuracy 0.900, NLL 0.300 and ECE 0.040, the posterior 0.900, 0.300 and 0.040; "
        "at severity 5 the softmax has accuracy 0.600, NLL 1.500 and ECE 0.200, the "
        "posterior 0.600, 1.600 and 0.200. Its NLL is not the lower at severity 1, 5. Its ECE "
        "is not the lower at severity 1, 5."
    )
    assert calibration.text == (
        "On the test digits the softmax's expected calibration error is 0.010 (adaptive "
        "0.008), the posterior predictive's (svi) 0.020 (0.009); test NLL 0.080 against "
        "0.050. The posterior has the lower NLL but does not do better on ECE. Under the "
        "strongest shifts it does worse on blur at 2 (NLL 1.100 vs 0.900)."
    )
    assert far.text == (
        "On uniform-noise images the softmax's mean confidence is 0.760, the posterior "
        "predictive's 0.510."
    )
    assert fooled.text == "Attacks and fooling images were not part of this run."
    assert "0.004 on test digits against 0.050 on noise." in split.text
    assert flags.text == (
        "Here the softmax's own entropy is a usable flag for every kind of unusual input "
        "(entropy against test digits): noise: AUROC 0.930 for the softmax (a usable flag) "
        "and 0.980 for the posterior (the posterior's is better: a usable flag)."
    )
    assert flags.values == {
        ("softmax", "ood", "noise", None, "auroc_entropy"): 0.93,
        ("svi", "ood", "noise", None, "auroc_entropy"): 0.98,
    }
    (only,) = findings([r for r in rows if r["method"] != "svi"])
    assert "no Bayesian method" in only.text


def test_a_single_noise_level_is_called_chance_and_regression_speaks_of_inputs():
    """A stranger's regression report said a point estimate's AUROC of exactly 0.500 (one
    score for every input) was "barely better than chance", and a below-chance regressor
    would have been "more certain on them than on test digits"."""
    test = {"coverage_90": 0.9, "width_90": 2.0, "pit_error": 0.01, "nll": 1.0, "rmse": 1.0}
    rows = [_row(m, "test", "test", **test) for m in ("point", "svi")]
    for ood, s in (("principal_component", 0.5), ("extreme", 0.3)):
        rows += [
            _row("point", "ood", ood, auroc_total=s, auroc_epistemic=0.5),
            _row("svi", "ood", ood, auroc_epistemic=0.8),
        ]
    text = regression_findings(rows)[0].text
    assert "AUROC 0.500 (no better than chance)" in text
    assert "AUROC 0.300 (worse than chance: more certain on them than on test inputs)" in text
    assert "digits" not in text


def test_the_unusual_inputs_verdict_follows_the_numbers():
    """The report once opened with a canned "often a usable flag" before quoting AUROCs of
    0.595, 0.175 and 0.023, and called a below-chance 0.337 "better"."""
    rows = [
        _row(m, "test", "test", ece=0.01, adaptive_ece=0.01, nll=0.1) for m in ("softmax", "svi")
    ]
    for ood, s, b in (("noise", 0.595, 0.7), ("inverted", 0.175, 0.337), ("photos", 0.023, 0.01)):
        rows += [
            _row("softmax", "ood", ood, auroc_entropy=s, confidence=0.9, mi=None),
            _row("svi", "ood", ood, auroc_entropy=b, confidence=0.8, mi=0.1),
        ]
    flags = findings(rows)[4]
    assert flags.text.startswith("Here the softmax's own entropy is not a usable flag for any")
    assert (
        "noise: AUROC 0.595 for the softmax (barely better than chance) and 0.700 for the "
        "posterior (the posterior's is better: a weak flag)" in flags.text
    )
    assert "0.337 for the posterior (the posterior's is higher but still worse than chance)" in (
        flags.text
    )
    assert (
        "photos: AUROC 0.023 for the softmax (worse than chance: more certain on them than "
        "on test digits) and 0.010 for the posterior (the posterior's is no better)" in flags.text
    )
    assert "usable flag" not in flags.text.split(":")[0].replace("not a usable flag", "")


def test_compare_streams_loaders_as_it_does_tensors_and_reports_sets(softmax, digits):
    """A loader, tensors cut in other batch sizes: the same rows; the sets' coverage is
    near its level in distribution and the sets are larger under corruption."""
    x, y = digits[1].tensors
    (xc, yc), (x, y) = (x[:180], y[:180]), (x[180:], y[180:])  # calibration, test
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=37)
    noise = shift.noise_like(x)  # an OOD loader's labels are not the test classes'
    options = dict(
        ood={"noise": torch.utils.data.DataLoader(torch.utils.data.TensorDataset(noise, y))},
        calibration=(xc, yc),
        corruptions=["gaussian_noise", "pixelate"],
        severities=[1, 5],
    )
    a = compare({"softmax": softmax}, test=loader, **options).rows
    b = compare({"softmax": softmax}, test=(x, y), batch_size=100, **options).rows
    # each batch is corrupted with its own seed: corrupted rows match at the same batches
    c = compare({"softmax": softmax}, test=(x, y), batch_size=37, **options).rows
    assert [r.keys() for r in a] == [r.keys() for r in b]
    for ra, rb, rc in zip(a, b, c, strict=True):
        rb = rc if ra["kind"] == "corruption" else rb
        for key, value in ra.items():
            if isinstance(value, float) and key != "severity":
                assert value == pytest.approx(rb[key], rel=1e-9, abs=1e-12), key
    test_row = a[0]
    # split conformal on 180 held-out digits: at least ~90% on the other 180 (sd ~0.02);
    # LAC's sets are exact, APS's and RAPS's include the class that reaches the threshold
    assert 0.82 <= test_row["coverage_lac"] <= 0.98
    assert all(test_row[f"coverage_{name}"] >= 0.82 for name in ("aps", "raps"))
    assert test_row["size_lac"] <= test_row["size_aps"]
    means = {r["severity"]: r for r in a if r["kind"] == "corruption" and r["condition"] == "mean"}
    assert means[5]["accuracy"] < means[1]["accuracy"] <= test_row["accuracy"] + 0.01
    assert means[5]["size_aps"] > test_row["size_aps"]
    ood_row = next(r for r in a if r["kind"] == "ood")
    assert "coverage_lac" not in ood_row and ood_row["size_credible"] >= 1
