"""motherlode.utils.particle: MadMiner 0.9.6's MadMinerParticle, which is motherlode's EventParticle.

Expected values marked "MadMiner 0.9.6" were computed by ``madminer.utils.particle`` in its own
environment on the same inputs (MadMiner's charges are ``fractions.Fraction``; ours are floats).
"""

from __future__ import annotations

import numpy as np
import pytest
import vector

from motherlode.errors import InputError
from motherlode.events import EventParticle
from motherlode.utils.particle import B_PDG_IDS, T_PDG_IDS, TAU_PDG_IDS, MadMinerParticle


def particle(px: float, py: float, pz: float, e: float, pdgid: int | None = None) -> MadMinerParticle:
    result = MadMinerParticle.from_xyzt(px, py, pz, e)
    if pdgid is not None:
        result.set_pdgid(pdgid)
    return result


def test_one_class_and_the_pdg_id_sets():
    assert MadMinerParticle is EventParticle
    assert issubclass(MadMinerParticle, vector.MomentumObject4D)
    # MadMiner 0.9.6 (from the particle package)
    assert sorted(B_PDG_IDS) == [-5, 5]
    assert sorted(T_PDG_IDS) == [-6, 6]
    assert sorted(TAU_PDG_IDS) == [-15, 15]
    assert all(isinstance(pdgid, int) for pdgid in B_PDG_IDS | T_PDG_IDS | TAU_PDG_IDS)


def test_fresh_particle_has_madminer_defaults():
    fresh = particle(1.0, 2.0, 3.0, 10.0)
    # MadMiner 0.9.6: None None None False False False
    assert (fresh.charge, fresh.pdgid, fresh.spin) == (None, None, None)
    assert (fresh.tau_tag, fresh.b_tag, fresh.t_tag) == (False, False, False)


@pytest.mark.parametrize(
    ("pdgid", "charge", "tau_tag", "b_tag", "t_tag"),
    [  # MadMiner 0.9.6
        (11, -1.0, False, False, False),  # e-
        (-13, 1.0, False, False, False),  # mu+
        (5, -1 / 3, False, True, False),  # b
        (-6, -2 / 3, False, False, True),  # t~
        (15, -1.0, True, False, False),  # tau-
        (-15, 1.0, True, False, False),  # tau+
        (21, 0.0, False, False, False),  # gluon
        (22, 0.0, False, False, False),  # photon
        (12, 0.0, False, False, False),  # nu_e
        (-24, -1.0, False, False, False),  # W-
        (2, 2 / 3, False, False, False),  # u
        (9000005, 0.0, False, False, False),  # unknown to the particle package: 0.0
    ],
)
def test_set_pdgid_like_madminer(pdgid, charge, tau_tag, b_tag, t_tag):
    p = particle(1.0, 2.0, 3.0, 10.0, pdgid)
    assert p.pdgid == pdgid
    assert p.pdg_id == pdgid
    assert isinstance(p.charge, float)
    assert p.charge == pytest.approx(charge)
    assert (p.tau_tag, p.b_tag, p.t_tag) == (tau_tag, b_tag, t_tag)
    assert str(p.charge) != "-0.0"


def test_set_pdgid_accepts_integers_only():
    p = particle(1.0, 2.0, 3.0, 10.0)
    for value in (np.int64(-5), 5.0, "5"):
        p.set_pdgid(value)
        assert p.pdgid in (5, -5)
        assert isinstance(p.pdgid, int)
    for bad in (5.5, "b", None, True):
        with pytest.raises(InputError, match="set_pdgid: pdgid must be an integer"):
            p.set_pdgid(bad)


def test_tags_are_settable_and_sticky_like_madminer():
    jet = particle(1.0, 2.0, 3.0, 10.0, 21)
    jet.set_tags(b_tag=True)  # a detector's b tag on a gluon jet
    assert (jet.tau_tag, jet.b_tag, jet.t_tag) == (False, True, False)
    b = particle(1.0, 2.0, 3.0, 10.0, 5)
    b.set_tags(b_tag=False)
    assert not b.b_tag
    # MadMiner 0.9.6: set_pdgid sets a tag, never clears one
    b.set_pdgid(11)
    assert not b.b_tag
    b.set_pdgid(5)
    b.set_pdgid(11)
    assert b.b_tag
    b.b_tag = None  # back to the PDG id's default
    assert not b.b_tag
    direct = EventParticle.from_components(1.0, 0.0, 0.0, 2.0, charge=1.0, pdgid=-15)
    assert direct.tau_tag  # from the PDG id
    direct.tau_tag = False
    assert not direct.tau_tag


def test_spin():
    p = particle(1.0, 2.0, 3.0, 10.0, 11)
    p.set_spin(-1.0)
    assert p.spin == -1.0
    assert "spin=-1.0" in repr(p)
    assert EventParticle.from_components(1.0, 0.0, 0.0, 2.0, spin=9.0).spin == 9.0


def test_sums_combine_charges_and_tags_like_madminer():
    a = particle(1.0, 2.0, 3.0, 10.0, 5)
    a.set_spin(-1.0)
    b = particle(-1.0, 0.5, 1.0, 4.0, -11)
    total, difference = a + b, a - b
    # MadMiner 0.9.6
    assert [total.px, total.py, total.pz, total.E] == [0.0, 2.5, 4.0, 14.0]
    assert total.charge == pytest.approx(2 / 3)
    assert [difference.px, difference.py, difference.pz, difference.E] == [2.0, 1.5, 2.0, 6.0]
    assert difference.charge == pytest.approx(-4 / 3)
    for combined in (total, difference):
        assert isinstance(combined, MadMinerParticle)
        assert (combined.pdgid, combined.spin) == (None, None)
        assert (combined.tau_tag, combined.b_tag, combined.t_tag) == (False, True, False)
    unknown = particle(0.0, 0.0, 1.0, 2.0)
    assert (a + unknown).charge is None
    assert sum([a, b]).E == 14.0  # MadMiner 0.9.6: TypeError


def test_in_place_sums():
    b = particle(-1.0, 0.5, 1.0, 4.0, -11)
    c = particle(1.0, 2.0, 3.0, 10.0, 5)
    alias = c
    c += b
    # MadMiner 0.9.6
    assert c is alias
    assert (c.px, c.E) == (0.0, 14.0)
    assert c.charge == pytest.approx(2 / 3)
    assert (c.pdgid, c.spin, c.tau_tag, c.b_tag, c.t_tag) == (None, None, False, True, False)
    d = particle(1.0, 2.0, 3.0, 10.0, 5)
    d -= b
    assert (d.px, d.E) == (2.0, 6.0)
    assert d.charge == pytest.approx(-4 / 3)
    # MadMiner 0.9.6 loses the b tag in -= (b_tag False), unlike in -
    assert (d.tau_tag, d.b_tag, d.t_tag) == (False, True, False)
    tau = particle(0.0, 0.0, 1.0, 2.0, 15)
    d -= tau
    assert (d.tau_tag, d.b_tag) == (True, True)


def test_boost_keeps_the_particle():
    a = particle(1.0, 2.0, 3.0, 10.0, 5)
    a.set_spin(-1.0)
    b = particle(-1.0, 0.5, 1.0, 4.0, -11)
    boosted = a.boost(b)
    # MadMiner 0.9.6
    np.testing.assert_allclose(
        [boosted.px, boosted.py, boosted.pz, boosted.E],
        [-1.8017591564412183, 3.4008795782206094, 5.801759156441219, 11.596237634367764],
    )
    for result in (boosted, a.boost_p4(b), a.boost(b.to_beta3()), a.boostCM_of_p4(b), a.boostZ(beta=0.5)):
        assert isinstance(result, MadMinerParticle)
        assert result.charge == pytest.approx(-1 / 3)
        assert (result.pdgid, result.spin, result.b_tag) == (5, -1.0, True)
    assert float(a.boostCM_of_p4(a).p) == pytest.approx(0.0, abs=1e-12)
    gluon_jet = particle(1.0, 2.0, 3.0, 10.0, 21)
    gluon_jet.set_tags(b_tag=True)
    assert gluon_jet.boost(b).b_tag


def test_construction_like_vector():
    p = MadMinerParticle(px=1.0, py=2.0, pz=3.0, E=10.0)
    assert (p.px, p.py, p.pz, p.E) == (1.0, 2.0, 3.0, 10.0)
    assert (p.charge, p.pdgid, p.b_tag) == (None, None, False)
    q = MadMinerParticle.from_rhophietatau(10.0, 0.0, 0.0, 0.0)
    q.set_pdgid(13)
    assert isinstance(q, MadMinerParticle)
    assert float(q.pt) == pytest.approx(10.0)
    assert q.charge == -1.0
    assert float((p + vector.obj(px=1.0, py=0.0, pz=0.0, E=2.0)).E) == 12.0  # MadMiner 0.9.6: assert
