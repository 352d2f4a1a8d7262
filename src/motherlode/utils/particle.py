"""MadMiner's particle class under MadMiner's path ``madminer.utils.particle``, for ported scripts.

:class:`MadMinerParticle` is :class:`motherlode.events.EventParticle`, the one particle class of
motherlode: a scikit-hep ``vector`` four-momentum (``vector.MomentumObject4D``) with ``charge``,
``pdgid`` (``pdg_id``), ``spin`` and the tags ``b_tag``, ``t_tag``, ``tau_tag``, the methods
``set_pdgid``, ``set_spin``, ``set_tags`` and boosts that keep these attributes. It is what
per-event observable functions receive, so ``isinstance(particle, MadMinerParticle)`` holds
for them.

The PDG id sets are MadMiner's (which took them from the ``particle`` package): the signed ids
whose particles get a b, top or tau tag from :meth:`MadMinerParticle.set_pdgid`.

Examples
--------
>>> from motherlode.utils.particle import MadMinerParticle
>>> muon = MadMinerParticle.from_xyzt(3.0, 4.0, 0.0, 5.0)
>>> muon.set_pdgid(-13)
>>> muon.charge, muon.tau_tag, float(muon.pt)
(1.0, False, 5.0)
"""

from __future__ import annotations

from motherlode.events import EventParticle

__all__ = ["B_PDG_IDS", "TAU_PDG_IDS", "T_PDG_IDS", "MadMinerParticle"]

B_PDG_IDS: set[int] = {-5, 5}
"""PDG ids of the b quark and antiquark."""

T_PDG_IDS: set[int] = {-6, 6}
"""PDG ids of the top quark and antiquark."""

TAU_PDG_IDS: set[int] = {-15, 15}
"""PDG ids of the tau lepton and antilepton."""

MadMinerParticle = EventParticle
"""MadMiner's name of :class:`motherlode.events.EventParticle`."""
