"""Draw every plotting function of motherlode into ``docs/img/`` (the pictures of docs/plotting.md).

The data are the real SMEFT W h -> l v b b sample in ``tests/data/wh_smeft`` (truncated MadGraph
output: theta = (cHW, cHq3), six reweighting benchmarks, signal at sm and b5, W b b background), read
at parton level with the tutorial's smearing, observables and cuts and a 10 % signal and 20 %
background normalisation systematic. Nothing is trained: the information and limits are those of
the parton-level truth, the rate and histograms. About 30 s on two cores.

Usage::

    python docs/gallery.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from motherlode import MadMiner
from motherlode.fisherinformation import FisherInformation
from motherlode.lhe import LHEReader
from motherlode.limits import AsymptoticLimits
from motherlode.plotting import (
    plot_1d_morphing_basis,
    plot_2d_morphing_basis,
    plot_distribution_of_information,
    plot_distributions,
    plot_fisher_information_contours_2d,
    plot_fisherinfo_barplot,
    plot_histograms,
    plot_nd_morphing_basis_scatter,
    plot_nd_morphing_basis_slices,
    plot_pvalue_limits,
    plot_systematics,
    plot_uncertainty,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "wh_smeft"
BENCHMARKS = {"sm": (0.0, 0.0), "b1": (1.0, 0.0), "b2": (-1.0, 0.0), "b3": (0.0, 1.0), "b4": (0.0, -1.0)}
BENCHMARKS["b5"] = (1.0, 1.0)
JETS = [*range(1, 7), *range(-6, 0), 21]
LABELS = {"cHW": r"$c_{HW}$", "cHq3": r"$c_{Hq}^{(3)}$"}
LUMINOSITY = 300_000.0  # pb^-1
LIMITS_LUMINOSITY = 10_000.0  # pb^-1: 10 fb^-1, so that the limits fill the grid
GRID = [(-0.5, 0.5), (-0.3, 0.3)]
RESOLUTIONS = [41, 41]


def setup(folder: Path) -> tuple[MadMiner, Path]:
    """The tutorial's two-parameter setup with two normalisation systematics."""
    miner = MadMiner()
    miner.add_parameter("SMEFT", 7, parameter_name="cHW", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_parameter("SMEFT", 25, parameter_name="cHq3", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, (c_hw, c_hq3) in BENCHMARKS.items():
        miner.add_benchmark({"cHW": c_hw, "cHq3": c_hq3}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.add_systematics(effect="norm", systematic_name="signal_norm", norm_variation=1.1)
    miner.add_systematics(effect="norm", systematic_name="bkg_norm", norm_variation=1.2)
    miner.save(folder / "setup.h5")
    return miner, folder / "setup.h5"


def events(setup_file: Path, folder: Path) -> Path:
    """LHEReader at parton level with smearing, the tutorial's observables and an m_bb window."""
    reader = LHEReader(str(setup_file), random_state=2)
    reader.add_sample(str(DATA / "wh_smeft_sig_sm_first2000.lhe.gz"), "sm", systematics=["signal_norm"])
    reader.add_sample(str(DATA / "wh_smeft_sig_b5_first1000.lhe.gz"), "b5", systematics=["signal_norm"])
    reader.add_sample(
        str(DATA / "wbb_bkg_first1000.lhe.gz"), "sm", is_background=True, systematics=["bkg_norm"]
    )
    reader.set_smearing(JETS, 0.0, 0.1, None, None, 0.1, 0.0, 0.1, 0.0)
    reader.set_met_noise(abs_=10.0, rel=0.05)
    reader.add_observable("pt_j1", "j[0].pt", required=False, default=0.0)
    reader.add_observable("delta_phi_jj", "j[0].deltaphi(j[1]) * (-1.0 + 2.0 * float(j[0].eta > j[1].eta))")
    reader.add_observable("met", "met.pt")
    reader.add_observable("pt_l1", "l[0].pt")
    reader.add_observable("m_bb", "(j[0] + j[1]).m")
    reader.add_observable("pt_bb", "(j[0] + j[1]).pt")
    reader.add_cut("m_bb > 80.0")
    reader.add_cut("m_bb < 160.0")
    reader.add_cut("pt_j1 > 20.0")
    reader.analyse_samples()
    reader.save(str(folder / "events.h5"))
    return folder / "events.h5"


def one_parameter_morpher() -> object:
    """A one-parameter quadratic morphing basis for plot_1d_morphing_basis."""
    miner = MadMiner()
    miner.add_parameter("SMEFT", 7, parameter_name="cHW", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in {"sm": 0.0, "b1": 1.0, "b2": -1.0}.items():
        miner.add_benchmark({"cHW": value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    return miner.morpher


def draw(out: Path) -> list[Path]:
    """Every plot, saved as PNG into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def save(fig, name: str) -> None:
        path = out / f"{name}.png"
        fig.savefig(path)
        saved.append(path)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        miner, setup_file = setup(folder)
        events_file = events(setup_file, folder)

        # morphing
        save(
            plot_1d_morphing_basis(one_parameter_morpher(), xlabel=LABELS["cHW"], xrange=(-2.0, 2.0)),
            "morphing_1d",
        )
        save(
            plot_2d_morphing_basis(
                miner.morpher,
                xlabel=LABELS["cHW"],
                ylabel=LABELS["cHq3"],
                xrange=(-2.0, 2.0),
                yrange=(-2.0, 2.0),
            ),
            "morphing_2d",
        )
        save(plot_nd_morphing_basis_scatter(miner.morpher, random_state=0), "morphing_nd_scatter")
        save(plot_nd_morphing_basis_slices(miner.morpher), "morphing_nd_slices")

        # distributions and systematics
        save(
            plot_distributions(
                str(events_file),
                parameter_points=["sm", np.array([1.0, 0.0]), np.array([0.0, 1.0])],
                line_labels=["SM", r"$c_{HW} = 1$", r"$c_{Hq}^{(3)} = 1$"],
                observable_labels=[
                    r"$p_{T,j_1}$ [GeV]",
                    r"$\Delta\phi_{jj}$",
                    r"$E_T^{miss}$ [GeV]",
                    r"$p_{T,\ell}$ [GeV]",
                    r"$m_{bb}$ [GeV]",
                    r"$p_{T,bb}$ [GeV]",
                ],
                uncertainties="nuisance",
                draw_nuisance_toys=10,
                n_bins=25,
                normalize=True,
                random_state=0,
            ),
            "distributions",
        )
        theta_sm = np.zeros(2)
        save(
            plot_systematics(
                str(events_file), theta_sm, "pt_bb", r"$p_{T,bb}$ [GeV]", (0.0, 400.0), random_state=0
            ),
            "systematics",
        )
        save(
            plot_uncertainty(
                str(events_file), theta_sm, "pt_bb", r"$p_{T,bb}$ [GeV]", (0.0, 400.0), random_state=0
            ),
            "uncertainty",
        )

        # Fisher information at the SM
        # (statistical information only: the normalisation systematics would remove the rate's)
        fisher = FisherInformation(str(events_file), include_nuisance_parameters=False)
        truth, truth_covariance = fisher.truth_information(theta_sm, LUMINOSITY)
        rate, rate_covariance = fisher.rate_information(theta_sm, LUMINOSITY)
        histo_pt, histo_pt_covariance = fisher.histo_information(theta_sm, LUMINOSITY, "pt_bb", 20)
        histo_2d, histo_2d_covariance = fisher.histo_information_2d(
            theta_sm, LUMINOSITY, "pt_bb", 8, "delta_phi_jj", 6
        )
        matrices = [truth, histo_2d, histo_pt, rate]
        covariances = [truth_covariance, histo_2d_covariance, histo_pt_covariance, rate_covariance]
        names = ["parton-level truth", r"$p_{T,bb} \times \Delta\phi_{jj}$", r"$p_{T,bb}$", "rate"]
        save(
            plot_fisher_information_contours_2d(
                matrices,
                covariances,
                labels=names,
                xlabel=LABELS["cHW"],
                ylabel=LABELS["cHq3"],
                xrange=(-0.06, 0.06),
                yrange=(-0.03, 0.03),
            ),
            "fisher_contours",
        )
        parameter_labels = [LABELS["cHW"], LABELS["cHq3"]]
        save(plot_fisherinfo_barplot(matrices, names, parameter_labels=parameter_labels), "fisher_barplot")
        bins, xsecs, infos_rate, infos_full = fisher.histogram_of_information(
            theta_sm, "pt_bb", 20, (0.0, 400.0)
        )
        save(
            plot_distribution_of_information(
                bins, xsecs, infos_full, infos_rate, xlabel=r"$p_{T,bb}$ [GeV]", xmin=0.0, xmax=400.0
            ),
            "information_distribution",
        )

        # limits
        limits = AsymptoticLimits(str(events_file))
        common = {"theta_true": theta_sm, "grid_ranges": GRID, "grid_resolutions": RESOLUTIONS}
        common["luminosity"] = LIMITS_LUMINOSITY
        p_values, best_fits = {}, {}
        one, two = r"$p_{T,bb}$, 20 bins", r"$p_{T,bb} \times \Delta\phi_{jj}$, 8 x 6 bins"
        grid, p_values["rate"], best_fits["rate"], *_ = limits.expected_limits("rate", **common)
        _, p_values[one], best_fits[one], _, _, histos = limits.expected_limits(
            "histo",
            hist_vars=["pt_bb"],
            hist_bins=[np.linspace(0.0, 400.0, 21)],
            return_asimov=True,
            **common,
        )
        _, p_values[two], best_fits[two], *_ = limits.expected_limits(
            "histo", hist_vars=["pt_bb", "delta_phi_jj"], hist_bins=[8, 6], **common
        )
        labels = list(p_values)
        save(
            plot_pvalue_limits(
                p_values,
                best_fits,
                labels,
                GRID,
                RESOLUTIONS,
                levels=[0.32, 0.05],
                xlabel=LABELS["cHW"],
                ylabel=LABELS["cHq3"],
            ),
            "pvalue_limits",
        )
        histograms, observed, observed_weights = histos
        indices = [
            int(np.argmin(np.sum((grid - point) ** 2, axis=1))) for point in ([0, 0], [0.5, 0], [0, 0.3])
        ]
        save(
            plot_histograms(
                [histograms[i] for i in indices],
                observed=observed[indices[0]],
                observed_weights=observed_weights,
                histo_labels=["SM", r"$c_{HW} = 0.5$", r"$c_{Hq}^{(3)} = 0.3$"],
                xlabel=r"$p_{T,bb}$ [GeV]",
                xrange=(0.0, 400.0),
            ),
            "histograms",
        )
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "img")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    for path in draw(args.out):
        print(path)
    print(f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
