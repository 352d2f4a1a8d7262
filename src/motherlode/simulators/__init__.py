"""Running the simulators: MadGraph, Pythia 8, Delphes.

:mod:`~motherlode.simulators.madgraph` writes MadMiner's cards and runs MadGraph5_aMC
(:meth:`motherlode.core.MadMiner.run` and its siblings use it);
:mod:`~motherlode.simulators.pythia` showers LHE files with Pythia 8 (``pythia8mc``, the optional
``motherlode[pythia]`` extra) into HepMC3 files that carry the LHE weights;
:mod:`~motherlode.simulators.delphes` runs a Delphes installation on HepMC files. Every external
program starts through :func:`~motherlode.simulators.process.run_command`: logged,
non-interactive, with a timeout and the end of its log in the error when it fails.
"""
