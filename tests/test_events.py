"""Tests of motherlode.events: smearing, physics objects and observables on whole arrays."""

from __future__ import annotations

import logging
import math
import pickle

import awkward as ak
import numpy as np
import pytest

from motherlode.errors import ExpressionError, InputError
from motherlode.events import (
    ELEMENTARY_PDG_IDS,
    FUNCTION_ARGUMENTS,
    OBJECT_ATTRIBUTES,
    OBJECT_NAMES,
    CallableMaskedArray,
    DetectorModel,
    EventObjects,
    EventParticle,
    ParticleArrays,
    ParticleCollection,
    ParticleColumn,
    charge_of,
    compile_definition,
    evaluate,
    evaluate_function,
)

NAN = math.nan

# ----------------------------------------------------------------------------------------------
# Hand-built events: (pdgid, px, py, pz, E) per particle, in "LHE order"
# ----------------------------------------------------------------------------------------------

EVENTS = [
    [  # 0: e- (pT 30), e+ (pT 40), a gluon jet (pT 10), a neutrino
        (11, 0.0, 30.0, 40.0, 50.0),
        (-11, 40.0, 0.0, -30.0, 50.0),
        (21, 10.0, 0.0, 0.0, 10.0),
        (12, 0.0, -20.0, 0.0, 20.0),
    ],
    [  # 1: u jet, mu-, a photon along the beam (pT 0), a neutralino (not SM elementary)
        (2, -50.0, 0.0, 0.0, 50.0),
        (13, 0.0, 20.0, 0.0, 20.0),
        (22, 0.0, 0.0, 5.0, 5.0),
        (1000022, 5.0, 5.0, 0.0, 200.0),
    ],
    [],  # 2: empty
    [  # 3: b, anti-b (second jet), tau-
        (-5, 0.0, -45.0, 0.0, 45.0),
        (5, 0.0, 60.0, 0.0, 60.0),
        (15, 3.0, 4.0, 0.0, 5.0),
    ],
]


def arrays_from(events: list[list[tuple[float, ...]]]) -> ParticleArrays:
    flat = [particle for event in events for particle in event]
    columns = np.array(flat, dtype=float).reshape(-1, 5)
    return ParticleArrays(
        counts=[len(event) for event in events],
        pdgid=columns[:, 0].astype(int),
        px=columns[:, 1],
        py=columns[:, 2],
        pz=columns[:, 3],
        energy=columns[:, 4],
    )


@pytest.fixture(scope="module")
def objects() -> EventObjects:
    global_data = {"scale": np.array([91.0, 50.0, 10.0, 125.0]), "n_particles": np.array([4, 4, 0, 3])}
    return DetectorModel().reconstruct(arrays_from(EVENTS), np.random.default_rng(0), global_data)


def values_of(source: str, objects: EventObjects, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    names = kwargs.pop("extra_names", ())
    return evaluate(compile_definition(source, extra_names=names), objects, **kwargs)


def check(source: str, objects: EventObjects, expected: list[float], **kwargs) -> None:
    values, parsed = values_of(source, objects, **kwargs)
    expected_array = np.array(expected, dtype=float)
    np.testing.assert_allclose(values, expected_array, rtol=1e-12, atol=1e-12, err_msg=source)
    np.testing.assert_array_equal(parsed, ~np.isnan(expected_array), err_msg=source)


# ----------------------------------------------------------------------------------------------
# Constants, charges, input validation
# ----------------------------------------------------------------------------------------------


def test_elementary_ids_and_vocabulary():
    assert len(ELEMENTARY_PDG_IDS) == 30
    assert {-24, 24, 21, 22, 23, 25, -16, 6, -6} <= ELEMENTARY_PDG_IDS
    assert not {-21, -22, -23, -25, 0, 9} & ELEMENTARY_PDG_IDS
    assert {"p", "p_truth", "e", "mu", "tau", "a", "j", "l", "v", "met", "visible", "all"} == OBJECT_NAMES
    assert {
        "pt",
        "eta",
        "phi",
        "m",
        "e",
        "charge",
        "pdg_id",
        "pdgid",
        "deltaR",
        "boost_p4",
    } <= OBJECT_ATTRIBUTES
    assert not any(name.startswith("_") for name in OBJECT_ATTRIBUTES)
    assert FUNCTION_ARGUMENTS == ("p_truth", "l", "a", "j", "met")


def test_charge_of():
    ids = np.array([11, -11, 13, 15, -15, 12, 1, -1, 2, -2, 3, 4, 5, -6, 21, 22, 23, 24, -24, 25, 9000005])
    expected = [
        -1,
        1,
        -1,
        -1,
        1,
        0,
        -1 / 3,
        1 / 3,
        2 / 3,
        -2 / 3,
        -1 / 3,
        2 / 3,
        -1 / 3,
        -2 / 3,
        0,
        0,
        0,
        1,
        -1,
        0,
        0,
    ]
    np.testing.assert_allclose(charge_of(ids), expected)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"px": [1.0]}, "px has 1 entries"),
        ({"counts": [1, -1, 2]}, "negative"),
        ({"pdgid": [11.5, 11.0]}, "integers"),
        ({"energy": [1.0, math.inf]}, "non-finite"),
        ({"counts": [[2]]}, "one-dimensional"),
    ],
)
def test_particle_arrays_validation(changes, message):
    fields = {"counts": [2], "pdgid": [11, -11], "px": [1.0, 2.0], "py": [0.0, 0.0], "pz": [0.0, 0.0]}
    fields["energy"] = [1.0, 2.0]
    fields.update(changes)
    with pytest.raises(InputError, match=message):
        ParticleArrays(**fields)


def test_particle_arrays_basics():
    arrays = arrays_from(EVENTS)
    assert arrays.n_events == 4
    assert arrays.n_particles == 11
    np.testing.assert_array_equal(arrays.offsets, [0, 4, 8, 8, 11])
    np.testing.assert_array_equal(arrays.event_index, [0, 0, 0, 0, 1, 1, 1, 1, 3, 3, 3])
    assert arrays.charge[0] == -1.0
    assert "n_events=4" in repr(arrays)
    built = ParticleArrays.from_ptetaphim([1], [24], [30.0], [1.0], [0.5], [80.0], charge=[1.0])
    np.testing.assert_allclose(built.px, 30 * math.cos(0.5))
    np.testing.assert_allclose(built.pz, 30 * math.sinh(1.0))
    np.testing.assert_allclose(built.energy, math.hypot(30 * math.cosh(1.0), 80.0))


# ----------------------------------------------------------------------------------------------
# Objects of hand-built events
# ----------------------------------------------------------------------------------------------


def test_object_counts(objects):
    for source, expected in [
        ("len(j)", [1, 1, 0, 2]),
        ("len(e)", [2, 0, 0, 0]),
        ("len(mu)", [0, 1, 0, 0]),
        ("len(l)", [2, 1, 0, 0]),
        ("len(tau)", [0, 0, 0, 1]),
        ("len(a)", [0, 1, 0, 0]),
        ("len(v)", [1, 0, 0, 0]),
        ("len(p)", [4, 3, 0, 3]),  # the neutralino is dropped from the detector-level particles
        ("len(p_truth)", [4, 4, 0, 3]),
    ]:
        check(source, objects, expected)


def test_pt_ordering_subscripts_and_missing_objects(objects):
    check("j[0].pt", objects, [10, 50, NAN, 60])
    check("j[1].pt", objects, [NAN, NAN, NAN, 45])  # j[1] is not parsed in one-jet events
    check("j[-1].pt", objects, [10, 50, NAN, 45])
    check("j[-2].pt", objects, [NAN, NAN, NAN, 60])
    check("e[0].pt", objects, [40, NAN, NAN, NAN])  # the e+ has the larger pT
    check("e[1].pt", objects, [30, NAN, NAN, NAN])
    check("l[0].pt + l[1].pt", objects, [70, NAN, NAN, NAN])
    check("p[0].pt", objects, [30, 50, NAN, 45])  # LHE order, not pT order
    check("p_truth[3].pdgid", objects, [12, 1000022, NAN, NAN])
    check("p_truth[3].e", objects, [20, 200, NAN, NAN])


def test_charges_and_pdg_ids(objects):
    check("e[0].charge", objects, [1, NAN, NAN, NAN])
    check("e[1].charge", objects, [-1, NAN, NAN, NAN])
    check("l[0].charge", objects, [1, -1, NAN, NAN])
    check("j[0].charge", objects, [0, 2 / 3, NAN, -1 / 3])
    check("j[1].charge", objects, [NAN, NAN, NAN, 1 / 3])
    check("e[0].pdg_id", objects, [-11, NAN, NAN, NAN])
    check("e[0].pdgid", objects, [-11, NAN, NAN, NAN])
    check("tau[0].charge", objects, [NAN, NAN, NAN, -1])
    check("j[0].b_tag", objects, [0, 0, NAN, 1])
    check("tau[0].tau_tag", objects, [NAN, NAN, NAN, 1])
    check("mu[0].charge > 0.", objects, [NAN, 0, NAN, NAN])
    check("(l[0] + l[1]).charge", objects, [0, NAN, NAN, NAN])
    check("(l[0] + l[1]).pdgid", objects, [NAN, NAN, NAN, NAN])  # a sum has no PDG id


def test_invariant_mass_of_two_leptons(objects):
    # (40, 0, -30, 50) + (0, 30, 40, 50) = (40, 30, 10, 100)
    mass = math.sqrt(100**2 - 40**2 - 30**2 - 10**2)
    check("(l[0] + l[1]).m", objects, [mass, NAN, NAN, NAN])
    check("(l[0] + l[1]).mass", objects, [mass, NAN, NAN, NAN])
    check("(e[0] + e[1]).m()", objects, [mass, NAN, NAN, NAN])
    check("l[0].add(l[1]).m", objects, [mass, NAN, NAN, NAN])
    check("(l[0] - l[1]).e", objects, [0, NAN, NAN, NAN])
    check("(j[0] + j[1]).m", objects, [NAN, NAN, NAN, math.sqrt(105**2 - 15**2)])


def test_visible_met_and_all(objects):
    # visible = every kept particle except neutrinos (and the dropped neutralino)
    visible = np.array([[50, 30, 10, 110], [-50, 20, 5, 75], [0, 0, 0, 0], [3, 19, 0, 110]], dtype=float)
    visible_pt = np.hypot(visible[:, 0], visible[:, 1])
    check("visible.px", objects, visible[:, 0])
    check("visible.py", objects, visible[:, 1])
    check("visible.pz", objects, visible[:, 2])
    check("visible.e", objects, visible[:, 3])
    check("visible.m", objects, np.sqrt(visible[:, 3] ** 2 - (visible[:, :3] ** 2).sum(axis=1)))
    # (vector gives eta = 0 for the null vector of the empty event)
    check("visible.eta", objects, [np.arcsinh(10 / visible_pt[0]), np.arcsinh(5 / visible_pt[1]), 0.0, 0.0])
    check("visible.charge", objects, [0, -1 + 2 / 3, 0, -1])
    check("met.px", objects, -visible[:, 0])
    check("met.py", objects, -visible[:, 1])
    check("met.pz", objects, [0, 0, 0, 0])
    check("met.pt", objects, visible_pt)
    check("met.e", objects, visible_pt)
    check("met.phi", objects, np.arctan2(-visible[:, 1], -visible[:, 0]))
    check("all.pt", objects, [0, 0, 0, 0])
    check("all.pz", objects, visible[:, 2])
    check("all.e", objects, visible[:, 3] + visible_pt)


def test_not_parsed_for_non_finite_values(objects):
    check("1 / (j[0].pt - j[0].pt)", objects, [NAN] * 4)
    check("sqrt(j[0].pt - 20)", objects, [NAN, math.sqrt(30), NAN, math.sqrt(40)])
    check("(j[0].pt - 20) ** 0.5", objects, [NAN, math.sqrt(30), NAN, math.sqrt(40)])
    check("log(j[0].pt - 10)", objects, [NAN, math.log(40), NAN, math.log(50)])
    check("a[0].eta", objects, [NAN, NAN, NAN, NAN])  # photon along the beam: eta undefined
    check("a[0].e", objects, [NAN, 5, NAN, NAN])
    check("visible.e / visible.e", objects, [1, 1, NAN, 1])
    check("scale / (n_particles - 4)", objects, [NAN, NAN, -2.5, -125], extra_names=["scale", "n_particles"])
    # an invalid intermediate result is not parsed even if a comparison would hide it
    check("sqrt(j[0].pt - 20) > 0", objects, [NAN, 1, NAN, 1])
    check("1 / (j[0].pt - 10) > 0", objects, [NAN, 1, NAN, 1])


def test_methods_and_legacy_call_spellings(objects):
    for name in ("phi", "eta", "pt", "m", "e", "E", "mass", "rapidity", "charge"):
        v1, p1 = values_of(f"l[0].{name}", objects)
        v2, p2 = values_of(f"l[0].{name}()", objects)
        np.testing.assert_array_equal(v1, v2)
        np.testing.assert_array_equal(p1, p2)
    check("abs(j[0].phi() - j[1].phi())", objects, [NAN, NAN, NAN, math.pi])
    check("abs(j[0].deltaphi(j[1]))", objects, [NAN, NAN, NAN, math.pi])
    # deltaR by hand: l[0] = (40, 0, -30), l[1] = (0, 30, 40)
    eta0, eta1 = math.asinh(-30 / 40), math.asinh(40 / 30)
    delta_r = math.hypot(eta0 - eta1, math.pi / 2)
    check("l[0].deltaR(l[1])", objects, [delta_r, NAN, NAN, NAN])
    check("l[0].deltaR2(l[1])", objects, [delta_r**2, NAN, NAN, NAN])
    check("l[0].deltaeta(l[1])", objects, [eta0 - eta1, NAN, NAN, NAN])
    check("j[0].deltaR(e[0])", objects, [abs(eta0), NAN, NAN, NAN])
    check("l[0].dot(l[1])", objects, [50 * 50 - (0 + 0 - 1200), NAN, NAN, NAN])
    # in the rest frame of the pair: back to back, equal momenta, total energy = mass
    mass = math.sqrt(100**2 - 40**2 - 30**2 - 10**2)
    check("(l[0] + l[1]).boostCM_of_p4(l[0] + l[1]).e", objects, [mass, NAN, NAN, NAN])
    values, parsed = values_of("(l[0] + l[1]).boostCM_of_p4(l[0] + l[1]).p", objects)
    assert parsed.tolist() == [True, False, False, False]
    assert abs(values[0]) < 1e-9
    first, _ = values_of("l[0].boostCM_of_p4(l[0] + l[1]).p", objects)
    second, _ = values_of("l[1].boostCM_of_p4(l[0] + l[1]).p", objects)
    np.testing.assert_allclose(first[0], second[0], rtol=1e-12)
    np.testing.assert_allclose(first[0], mass / 2, rtol=1e-12)


def test_short_circuit_semantics_like_madminer(objects):
    # MadMiner's eval short-circuits: these are parsed in every event
    check("len(j) >= 2 and j[1].pt > 30", objects, [0, 0, 0, 1])
    check("len(j) < 2 or j[1].pt > 50", objects, [1, 1, 1, 0])
    check("j[1].pt if len(j) >= 2 else -1", objects, [-1, -1, -1, 45])
    check("where(len(e) > 0, e[0].pt, 0)", objects, [40, 0, 0, 0])
    # ... while a missing object that is needed makes the result not parsed
    check("j[1].pt > 30 and len(j) >= 2", objects, [NAN, NAN, NAN, 1])
    check("len(j) >= 1 and j[1].pt > 30", objects, [NAN, NAN, 0, 1])
    check("min(j[0].pt, 20)", objects, [10, 20, NAN, 20])
    check("max(j[0].pt, j[1].pt, 0)", objects, [NAN, NAN, NAN, 60])
    check("clip(j[0].pt, 15, 55)", objects, [15, 50, NAN, 55])


def test_global_data_and_extra_values(objects):
    check("scale * 2", objects, [182, 100, 20, 250], extra_names=["scale"])
    check("n_particles", objects, [4, 4, 0, 3], extra_names=["n_particles"])
    pt_j1 = np.ma.MaskedArray([10.0, 50.0, 0.0, 60.0], mask=[False, False, True, False])
    check("pt_j1 > 30", objects, [0, 1, NAN, 1], extra={"pt_j1": pt_j1}, extra_names=["pt_j1"])
    # a plain array with NaN behaves like MadMiner's NaN default: the comparison is False
    plain = np.array([10.0, 50.0, NAN, 60.0])
    check("pt_j1 > 30", objects, [0, 1, 0, 1], extra={"pt_j1": plain}, extra_names=["pt_j1"])
    check("pt_j1 / 10", objects, [1, 5, NAN, 6], extra={"pt_j1": plain}, extra_names=["pt_j1"])
    check("2.5", objects, [2.5] * 4)
    check("True", objects, [1] * 4)
    with pytest.raises(InputError, match="one value per event"):
        values_of("x", objects, extra={"x": np.zeros(3)}, extra_names=["x"])


def test_attributes_are_callable_masked_arrays(objects):
    pt = objects["j"][1].pt
    assert isinstance(pt, CallableMaskedArray)
    assert pt() is pt
    assert pt.mask.tolist() == [True, True, True, False]
    assert objects["j"][1].missing.tolist() == [True, True, True, False]
    assert objects["j"][0] is objects["j"][0]  # cached


@pytest.mark.parametrize(
    "source",
    [
        "j[0].__class__",
        "j[0].__class__()",
        "j[0].foo()",
        "j[0].foo",
        "j[0].phi(x=1)",
        "j[0].pt()()",
        "j[x]",
        "j[0:1]",
        "unknown_name",
        "getattr(j, 'pt')",
        "[x.pt for x in j]",
    ],
)
def test_compile_rejects(source):
    with pytest.raises(ExpressionError):
        compile_definition(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("j[0]", "a particle"),
        ("j", "a list of particles"),
        ("j.pt", "jagged"),
        ("len(met)", "len"),
        ("met[0]", "cannot be evaluated"),
        ("j[0] + 1", "cannot be evaluated"),
        ("j[0].deltaR(1.0)", "cannot be evaluated"),
    ],
)
def test_evaluate_rejects(objects, source, message):
    with pytest.raises(ExpressionError, match=message):
        values_of(source, objects)


def test_missing_name_is_an_error(objects):
    with pytest.raises(ExpressionError, match="scale"):
        evaluate(
            compile_definition("scale", extra_names=["scale"]), EventObjects.from_particles(arrays_from([[]]))
        )


def test_names_shadow_constants(objects):
    expression = compile_definition("e[0].pt + tau[0].pt + pi")
    assert expression.names_used == {"e", "tau"}


# ----------------------------------------------------------------------------------------------
# Observable functions
# ----------------------------------------------------------------------------------------------


def dilepton_mass_per_event(particles, leptons, photons, jets, met):
    if len(leptons) < 2:
        raise RuntimeError("needs two leptons")
    return (leptons[0] + leptons[1]).m


def dilepton_mass_vectorised(particles, leptons, photons, jets, met):
    return (leptons[0] + leptons[1]).m


def test_per_event_and_vectorised_functions_match_the_expression(objects):
    expected = values_of("(l[0] + l[1]).m", objects)
    for fn, vectorized in [(dilepton_mass_per_event, False), (dilepton_mass_vectorised, True)]:
        values, parsed = evaluate_function(fn, objects, vectorized=vectorized)
        np.testing.assert_allclose(values, expected[0], rtol=1e-12)
        np.testing.assert_array_equal(parsed, expected[1])
    # an IndexError (j[1] missing) also means "not parsed"
    values, parsed = evaluate_function(
        lambda particles, leptons, photons, j, met: j[1].pt, objects, vectorized=False
    )
    np.testing.assert_array_equal(parsed, [False, False, False, True])
    np.testing.assert_allclose(values[3], 45)


def test_per_event_function_arguments(objects):
    seen = []

    def record(particles, leptons, photons, jets, met):
        seen.append((particles, leptons, photons, jets, met))
        return math.nan if not particles else met.pt

    values, parsed = evaluate_function(record, objects, vectorized=False)
    assert parsed.tolist() == [True, True, False, True]
    np.testing.assert_allclose(values[[0, 1, 3]], [math.sqrt(3400), math.sqrt(2900), math.sqrt(370)])
    particles, leptons, photons, _, met = seen[1]
    assert [particle.pdgid for particle in particles] == [2, 13, 22, 1000022]  # truth, LHE order
    assert isinstance(particles[0], EventParticle)
    assert particles[0].charge == pytest.approx(2 / 3)
    assert [lepton.pdg_id for lepton in leptons] == [13]
    assert leptons[0].charge == -1.0
    assert photons[0].e == 5.0
    assert isinstance(met, EventParticle)
    assert met.pz == 0.0
    particles, leptons, *_ = seen[0]
    assert [lepton.pt for lepton in leptons] == [40.0, 30.0]
    pair = sum(leptons)
    assert pair.charge == 0.0
    assert pair.pdgid is None
    assert math.isclose(pair.m, math.sqrt(7400))


def test_per_event_function_failures(objects):
    def failing(particles, leptons, photons, jets, met):
        if not jets:
            raise RuntimeError("no jets")
        if jets[0].pt < 20:
            return 1 / 0
        if jets[0].pt > 55:
            return "not a number"
        return jets[0].pt

    values, parsed = evaluate_function(failing, objects, vectorized=False)
    assert parsed.tolist() == [False, True, False, False]
    np.testing.assert_array_equal(values, [NAN, 50.0, NAN, NAN])


def test_vectorised_function_receives_collections(objects):
    def check_arguments(particles, leptons, photons, jets, met):
        assert isinstance(particles, ParticleCollection)
        assert isinstance(jets, ParticleCollection)
        assert isinstance(met, ParticleColumn)
        np.testing.assert_array_equal(particles.counts, [4, 4, 0, 3])
        return ak.firsts(jets.pt, axis=1)  # awkward result with None where there is no jet

    values, parsed = evaluate_function(check_arguments, objects, vectorized=True)
    np.testing.assert_array_equal(values, [10, 50, NAN, 60])
    assert parsed.tolist() == [True, True, False, True]
    values, parsed = evaluate_function(
        lambda particles, leptons, photons, j, met: ak.sum(j.pt, axis=1) + np.asarray(met.pt),
        objects,
        vectorized=True,
    )
    np.testing.assert_allclose(values, [10 + math.sqrt(3400), 50 + math.sqrt(2900), 0, 105 + math.sqrt(370)])
    with pytest.raises(ExpressionError, match="one number per event"):
        evaluate_function(lambda particles, leptons, photons, j, met: np.zeros(3), objects, vectorized=True)
    with pytest.raises(TypeError, match="ambiguous"):
        evaluate_function(lambda particles, leptons, photons, j, met: len(j), objects, vectorized=True)


def test_collection_attributes_are_jagged(objects):
    jets = objects["j"]
    assert jets.pt.tolist() == [[10.0], [50.0], [], [60.0, 45.0]]
    assert jets.pdg_id.tolist() == [[21], [2], [], [5, -5]]
    assert jets.b_tag.tolist() == [[False], [False], [], [True, True]]
    assert jets.awkward.charge.tolist()[3] == pytest.approx([-1 / 3, 1 / 3])
    assert len(jets.to_lists()) == 4
    with pytest.raises(AttributeError):
        jets.no_such_attribute  # noqa: B018


# ----------------------------------------------------------------------------------------------
# Reconstructed collections (Delphes-like)
# ----------------------------------------------------------------------------------------------


def test_from_collections():
    electrons = ParticleArrays.from_ptetaphim(
        [1, 1], [11, -11], [20.0, 35.0], [0.1, -0.2], [0.0, 1.0], [0.0, 0.0]
    )
    muons = ParticleArrays.from_ptetaphim(
        [2, 0], [13, -13], [25.0, 30.0], [0.0, 0.0], [2.0, -2.0], [0.0, 0.0], charge=[-1.0, 1.0]
    )
    jets = ParticleArrays.from_ptetaphim([0, 2], [0, 0], [40.0, 80.0], [1.0, 0.5], [0.0, 3.0], [5.0, 8.0])
    objects = EventObjects.from_collections(
        met_px=[1.0, 2.0], met_py=[0.0, -2.0], electrons=electrons, muons=muons, jets=jets
    )
    assert "p" not in objects
    assert "p_truth" not in objects
    check("len(l)", objects, [3, 1])
    check("l[0].pt", objects, [30, 35])  # sorted over electrons and muons together
    check("l[0].charge", objects, [1, 1])
    check("l[2].pdgid", objects, [11, NAN])
    check("j[0].pt", objects, [NAN, 80])
    check("j[0].m", objects, [NAN, 8])
    check("len(a) + len(tau) + len(v)", objects, [0, 0])
    check("met.pt", objects, [1, math.sqrt(8)])
    expected_px = [
        20 + 25 * math.cos(2.0) + 30 * math.cos(-2.0),
        35 * math.cos(1.0) + 40 + 80 * math.cos(3.0),
    ]
    np.testing.assert_allclose(values_of("visible.px", objects)[0], expected_px, rtol=1e-12)
    with pytest.raises(InputError, match="events"):
        EventObjects.from_collections(met_px=[1.0], met_py=[1.0], electrons=electrons)


# ----------------------------------------------------------------------------------------------
# Detector model
# ----------------------------------------------------------------------------------------------


def sample(n: int, pdgid: int, pt: float, eta: float, phi: float, mass: float) -> ParticleArrays:
    return ParticleArrays.from_ptetaphim(
        np.ones(n, dtype=int),
        np.full(n, pdgid),
        np.full(n, pt),
        np.full(n, eta),
        np.full(n, phi),
        np.full(n, mass),
    )


def kinematics(particles: ParticleArrays) -> dict[str, np.ndarray]:
    pt = np.hypot(particles.px, particles.py)
    return {
        "pt": pt,
        "eta": np.arcsinh(particles.pz / pt),
        "phi": np.arctan2(particles.py, particles.px),
        "e": particles.energy,
        "m2": particles.energy**2 - pt**2 - particles.pz**2,
    }


N_LARGE = 200_000


def test_default_model_keeps_elementary_particles_unsmeared(caplog):
    truth = arrays_from(EVENTS)
    with caplog.at_level(logging.WARNING, logger="motherlode.events"):
        smeared = DetectorModel().smear(truth, np.random.default_rng(1))
    assert smeared.n_particles == 10
    keep = truth.pdgid != 1000022
    for name in ("pdgid", "px", "py", "pz", "energy", "charge"):
        np.testing.assert_array_equal(getattr(smeared, name), getattr(truth, name)[keep])
    np.testing.assert_array_equal(smeared.counts, [4, 3, 0, 3])
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert "1000022" in messages[0]


def test_energy_smearing_with_derived_pt():
    mass, pt, eta, phi = 80.4, 200.0, 0.5, 0.3  # E - m >> sigma_E: truncation at E > m negligible
    truth = sample(N_LARGE, 24, pt, eta, phi, mass)
    model = DetectorModel()
    model.set_smearing([24], energy_resolution_abs=2.0, energy_resolution_rel=0.05, pt_resolution_abs=None)
    smeared = kinematics(model.smear(truth, np.random.default_rng(2)))
    energy = truth.energy[0]
    assert np.std(smeared["e"] - energy) == pytest.approx(2.0 + 0.05 * energy, rel=0.01)
    assert np.mean(smeared["e"] - energy) == pytest.approx(0.0, abs=0.05)
    np.testing.assert_allclose(smeared["m2"], mass**2, rtol=1e-9)  # on shell
    np.testing.assert_allclose(smeared["eta"], eta, rtol=1e-12)  # not smeared
    np.testing.assert_allclose(smeared["phi"], phi, rtol=1e-12)


def test_pt_smearing_with_derived_energy():
    mass, pt, eta, phi = 91.2, 40.0, -1.2, 2.0
    truth = sample(N_LARGE, 23, pt, eta, phi, mass)
    model = DetectorModel()
    model.set_smearing(None, energy_resolution_rel=None, pt_resolution_abs=1.0, pt_resolution_rel=0.02)
    smeared = kinematics(model.smear(truth, np.random.default_rng(3)))
    assert np.std(smeared["pt"] - pt) == pytest.approx(1.0 + 0.02 * pt, rel=0.01)
    np.testing.assert_allclose(smeared["m2"], mass**2, rtol=1e-9)
    np.testing.assert_allclose(smeared["eta"], eta, rtol=1e-12)


def test_all_four_resolutions():
    pt, eta, phi = 60.0, 0.8, 1.5
    truth = sample(N_LARGE, 11, pt, eta, phi, 0.0)
    energy = truth.energy[0]
    model = DetectorModel()
    model.set_smearing(
        [11],
        energy_resolution_abs=1.0,
        energy_resolution_rel=0.03,
        pt_resolution_abs=0.5,
        pt_resolution_rel=0.01,
        eta_resolution_abs=0.02,
        eta_resolution_rel=0.05,
        phi_resolution_abs=0.01,
        phi_resolution_rel=0.02,
    )
    smeared = kinematics(model.smear(truth, np.random.default_rng(4)))
    assert np.std(smeared["e"] - energy) == pytest.approx(1.0 + 0.03 * energy, rel=0.01)
    assert np.std(smeared["pt"] - pt) == pytest.approx(0.5 + 0.01 * pt, rel=0.01)
    assert np.std(smeared["eta"] - eta) == pytest.approx(0.02 + 0.05 * eta, rel=0.01)
    assert np.std(smeared["phi"] - phi) == pytest.approx(0.01 + 0.02 * phi, rel=0.01)
    assert np.mean(smeared["eta"] - eta) == pytest.approx(0.0, abs=3e-4)


def test_phi_is_wrapped_and_energy_redrawn_above_the_mass():
    mass = 80.4
    truth = sample(50_000, -24, 20.0, 0.0, 3.0, mass)
    model = DetectorModel()
    model.set_smearing(
        [-24],
        energy_resolution_abs=30.0,
        pt_resolution_rel=None,
        phi_resolution_abs=1.0,
        eta_resolution_abs=0.5,
    )
    smeared_arrays = model.smear(truth, np.random.default_rng(5))
    smeared = kinematics(smeared_arrays)
    assert (smeared_arrays.energy > mass).all()
    assert (smeared["pt"] > 0).all()
    np.testing.assert_allclose(smeared["m2"], mass**2, rtol=1e-8)
    assert (smeared["phi"] > -math.pi).all()
    assert (smeared["phi"] <= math.pi).all()
    assert (smeared["phi"] < 0).mean() > 0.2  # many wrapped past +pi


def test_pt_redrawn_positive_with_huge_resolution():
    truth = sample(20_000, 13, 10.0, 0.0, 0.0, 0.105)
    model = DetectorModel()
    model.set_smearing([13], energy_resolution_abs=None, pt_resolution_rel=3.0)
    smeared = kinematics(model.smear(truth, np.random.default_rng(6)))
    assert (smeared["pt"] > 0).all()
    assert np.isfinite(smeared["e"]).all()


def test_set_smearing_validation():
    model = DetectorModel()
    with pytest.raises(InputError, match="both"):
        model.set_smearing([11], energy_resolution_abs=None, pt_resolution_rel=None)
    with pytest.raises(InputError, match="eta_resolution_abs"):
        model.set_smearing([11], eta_resolution_abs=None)
    with pytest.raises(InputError, match="finite"):
        model.set_smearing([11], phi_resolution_abs=math.nan)
    with pytest.raises(InputError, match="PDG ids"):
        model.set_smearing(["e"])
    with pytest.raises(InputError, match="PDG ids"):
        model.set_smearing([0])
    with pytest.raises(InputError, match="finite"):
        model.set_met_noise(abs_=math.inf)
    assert model == DetectorModel()  # failed calls changed nothing
    with pytest.raises(InputError, match="Generator"):
        model.reconstruct(arrays_from(EVENTS), 42)


def test_per_pdgid_replacement():
    model = DetectorModel()
    model.set_smearing(None, eta_resolution_abs=0.1)
    model.set_smearing([11, -11], phi_resolution_abs=0.2)
    model.set_smearing(13, pt_resolution_rel=0.1)
    assert model.resolutions[11].eta_abs == 0.0
    assert model.resolutions[11].phi_abs == 0.2
    assert model.resolutions[-11].phi_abs == 0.2
    assert model.resolutions[13].pt_rel == 0.1
    assert model.resolutions[13].eta_abs == 0.0
    assert model.resolutions[21].eta_abs == 0.1
    truth = ParticleArrays(
        np.ones(2 * 20_000, dtype=int),
        np.tile([11, 21], 20_000),
        np.full(40_000, 30.0),
        np.zeros(40_000),
        np.full(40_000, 10.0),
        np.full(40_000, math.hypot(30.0, 10.0)),
    )
    smeared = kinematics(model.smear(truth, np.random.default_rng(7)))
    electrons, gluons = truth.pdgid == 11, truth.pdgid == 21
    eta = math.asinh(10 / 30)
    np.testing.assert_allclose(smeared["eta"][electrons], eta, rtol=1e-12)
    assert np.std(smeared["phi"][electrons]) == pytest.approx(0.2, rel=0.03)
    assert np.std(smeared["eta"][gluons] - eta) == pytest.approx(0.1, rel=0.03)
    np.testing.assert_allclose(smeared["phi"][gluons], 0.0, atol=1e-12)


def test_configured_non_elementary_particle_is_kept_but_invisible():
    model = DetectorModel()
    model.set_smearing([1000022])
    objects = model.reconstruct(arrays_from(EVENTS), np.random.default_rng(0))
    check("len(p)", objects, [4, 4, 0, 3])
    check("p[3].pdgid", objects, [12, 1000022, NAN, NAN])
    check("met.px", objects, [-50, 50, 0, -3])  # the neutralino does not enter MET


def test_met_noise_width():
    truth = sample(N_LARGE, 22, 50.0, 0.0, 0.0, 0.0)
    model = DetectorModel()
    model.set_met_noise(abs_=5.0, rel=0.1)  # HT = 50: sigma = 10
    objects = model.reconstruct(truth, np.random.default_rng(8))
    met_x = values_of("met.px", objects)[0]
    met_y = values_of("met.py", objects)[0]
    assert np.std(met_x + 50.0) == pytest.approx(10.0, rel=0.01)
    assert np.std(met_y) == pytest.approx(10.0, rel=0.01)
    assert np.mean(met_y) == pytest.approx(0.0, abs=0.1)
    np.testing.assert_allclose(values_of("met.e", objects)[0], np.hypot(met_x, met_y))
    np.testing.assert_array_equal(values_of("met.pz", objects)[0], 0.0)


def test_reproducible_with_seed():
    truth = sample(1000, 11, 50.0, 0.3, 0.1, 0.0)
    model = DetectorModel()
    model.set_smearing(None, energy_resolution_rel=0.1, pt_resolution_abs=None, eta_resolution_abs=0.1)
    model.set_met_noise(abs_=3.0)
    definition = compile_definition("l[0].e + met.px + l[0].eta")
    first = evaluate(definition, model.reconstruct(truth, np.random.default_rng(11)))[0]
    again = evaluate(definition, model.reconstruct(truth, np.random.default_rng(11)))[0]
    other = evaluate(definition, model.reconstruct(truth, np.random.default_rng(12)))[0]
    np.testing.assert_array_equal(first, again)
    assert (first != other).all()


def test_detector_model_pickle_repr_equality():
    model = DetectorModel()
    model.set_smearing([11, -11], energy_resolution_rel=0.05, pt_resolution_abs=None)
    model.set_met_noise(2.0, 0.1)
    copy = pickle.loads(pickle.dumps(model))
    assert copy == model
    assert copy.resolutions[11].pt_derived
    assert copy.met_noise == (2.0, 0.1)
    text = repr(model)
    assert "[-11, 11]: energy_rel=0.05, pt_abs=None" in text
    assert "met_noise=(2.0, 0.1)" in text
    assert model != DetectorModel()


def test_empty_chunk():
    objects = DetectorModel().reconstruct(arrays_from([]), np.random.default_rng(0))
    values, parsed = values_of("j[0].pt + met.pt", objects)
    assert values.shape == (0,)
    assert parsed.shape == (0,)
    assert evaluate_function(dilepton_mass_per_event, objects, vectorized=False)[0].shape == (0,)


def test_large_chunk_is_vectorised():
    # 100k events with two particles each; no assertions on time, just the values
    n = 100_000
    rng = np.random.default_rng(9)
    pt = rng.uniform(20, 100, 2 * n)
    truth = ParticleArrays.from_ptetaphim(
        np.full(n, 2),
        np.tile([11, -11], n),
        pt,
        rng.normal(size=2 * n),
        rng.uniform(-3, 3, 2 * n),
        np.zeros(2 * n),
    )
    objects = DetectorModel().reconstruct(truth, rng)
    mass, parsed = values_of("(e[0] + e[1]).m", objects)
    assert parsed.all()
    momenta = truth.px.reshape(n, 2).sum(1), truth.py.reshape(n, 2).sum(1), truth.pz.reshape(n, 2).sum(1)
    energy = truth.energy.reshape(n, 2).sum(1)
    expected = np.sqrt(np.maximum(energy**2 - sum(p**2 for p in momenta), 0.0))
    np.testing.assert_allclose(mass, expected, rtol=1e-6, atol=1e-6)
    leading, _ = values_of("e[0].pt", objects)
    np.testing.assert_allclose(leading, pt.reshape(n, 2).max(axis=1), rtol=1e-14)


def test_redraw_limit_clips_with_a_warning(monkeypatch, caplog):
    import motherlode.events as events_module

    monkeypatch.setattr(events_module, "_MAX_REDRAWS", 1)
    truth = sample(20_000, 11, 1.0, 0.0, 0.0, 0.0)
    model = DetectorModel()
    model.set_smearing([11], energy_resolution_abs=None, pt_resolution_abs=50.0)  # ~half the draws fail
    with caplog.at_level(logging.WARNING, logger="motherlode.events"):
        smeared = kinematics(model.smear(truth, np.random.default_rng(10)))
    assert (smeared["pt"] > 0).all()
    assert (smeared["pt"] == 1.0).mean() == pytest.approx(0.5, abs=0.02)  # clipped to the true pT
    assert any("redraws" in record.getMessage() for record in caplog.records)
