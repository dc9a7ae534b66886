import math

import pytest
import torch

from infogan.errors import SpecError
from infogan.latent import LatentSpec


def test_paper_spec_parses_to_paper_codes():
    spec = LatentSpec.parse("z62,cat10,cont2")
    assert spec.noise == 62 and spec.dim == 74
    assert [(c.name, c.kind, c.size) for c in spec.codes] == [("c1", "cat", 10), ("c2", "cont", 1), ("c3", "cont", 1)]
    assert [c.lam for c in spec.codes] == [1.0, 0.1, 0.1]
    assert spec.q_dim == 10 + 2 + 2  # logits + (mean, std) per continuous code


def test_options_names_and_lambdas():
    spec = LatentSpec.parse("z8:uniform, digit=cat4@2, rot=cont1:normal:fixed@0.5, cont2")
    assert spec.noise_prior == "uniform"
    digit, rot, c1, c2 = spec.codes
    assert (digit.name, digit.lam) == ("digit", 2.0)
    assert (rot.prior, rot.learn_std, rot.lam, rot.q_outputs) == ("normal", False, 0.5, 1)
    assert (c1.name, c2.name) == ("c1", "c2")


def test_default_lambdas_can_be_replaced():
    spec = LatentSpec.parse("cat10,cont1,cont1@0.3", lambda_cat=2.0, lambda_cont=0.05)
    assert [c.lam for c in spec.codes] == [2.0, 0.05, 0.3]


@pytest.mark.parametrize("text", ["z62,cat10,cont2", "z4:uniform,a=cat3@2,b=cont1:normal:fixed@0.5", "cat2"])
def test_string_form_round_trips(text):
    spec = LatentSpec.parse(text)
    assert LatentSpec.parse(str(spec)) == spec


@pytest.mark.parametrize("bad", ["", "z62,cat", "z62,cat1", "z62,foo3", "z1,z2", "cat10:fixed", "a=cat2,a=cat3",
                                 "cont2:bogus", "z0", "z62;cat10"])
def test_malformed_specs_are_one_line_errors(bad):
    with pytest.raises(SpecError) as e:
        LatentSpec.parse(bad)
    assert "\n" not in str(e.value)


def test_entropies():
    spec = LatentSpec.parse("cat10,cont1,cont1:normal")
    assert spec.codes[0].entropy == pytest.approx(math.log(10))
    assert spec.codes[1].entropy == pytest.approx(math.log(2))
    assert spec.codes[2].entropy == pytest.approx(0.5 * math.log(2 * math.pi * math.e))


def split(spec, vec):
    """join's inverse: z first, then each code in spec order (one-hot for categorical ones)."""
    z, rest, codes, i = vec[:, : spec.noise], vec[:, spec.noise :], {}, 0
    for c in spec.codes:
        part = rest[:, i : i + c.size]
        codes[c.name] = part.argmax(1) if c.kind == "cat" else part[:, 0]
        i += c.size
    return z, codes


def test_sample_join_split_round_trip():
    spec = LatentSpec.parse("z5,cat10,cont2,cat3")
    z, codes = spec.sample(64, generator=torch.Generator().manual_seed(0))
    vec = spec.join(z, codes)
    assert vec.shape == (64, spec.dim)
    z2, codes2 = split(spec, vec)
    assert torch.equal(z, z2)
    for k in codes:
        assert torch.allclose(codes[k].float(), codes2[k].float())
    assert codes["c2"].abs().max() <= 1 and codes["c1"].max() < 10


def test_sampling_is_seeded():
    spec = LatentSpec.parse("z5,cat10,cont2")
    a = spec.join(*spec.sample(8, generator=torch.Generator().manual_seed(3)))
    b = spec.join(*spec.sample(8, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(a, b)


def test_check_values_rejects_unknown_and_out_of_range():
    spec = LatentSpec.parse("z5,cat10,cont2")
    spec.check_values({"c1": 9, "c2": 2.0})
    for bad in ({"c9": 1}, {"c1": 10}, {"c1": -1}, {"c1": 1.5}, {"c2": 1e6}, {"c2": float("nan")}):
        with pytest.raises(SpecError):
            spec.check_values(bad)
