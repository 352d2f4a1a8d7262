"""MadGraph steering (``MadMiner.run``, ``run_multiple``, ``reweight_existing_sample``).

CI has no MadGraph: a scripted stand-in ``mg5_aMC`` (``tests/interop/mg5_stand_in.py``) checks the
commands it receives and writes recorded real MadGraph output (the W h events of
``tests/data/wh_smeft``). The cards are compared field by field with the cards MadMiner 0.9.6
writes for the same setup (with the same stand-in). How a real MadGraph run was checked by hand
is in ``docs/simulators.md``.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import WH_BENCHMARKS as BENCHMARKS
from conftest import read_record, wh_miner
from motherlode import MadMiner
from motherlode.errors import ExternalCommandError, InputError, SetupError
from motherlode.lhe import LHEReader
from motherlode.simulators.madgraph import param_card, run_card, systematics_arguments

WH = Path(__file__).parent / "data" / "wh_smeft"
CARDS = WH / "cards"
EVENTS_SM = WH / "wh_smeft_sig_sm_first2000.lhe.gz"


@pytest.fixture
def miner():
    miner = wh_miner()
    miner.add_systematics("scale", "scales", scale="mu", scale_variations=(0.5, 1.0, 2.0))
    return miner


def _run(miner, mg_directory, tmp_path, **kwargs):
    arguments = {
        "mg_directory": mg_directory,
        "proc_card_file": CARDS / "proc_card_signal.dat",
        "param_card_template_file": CARDS / "param_card_sm.dat",
        "run_card_files": [CARDS / "run_card_sig_sm.dat"],
        "mg_process_directory": tmp_path / "mg_processes" / "signal",
        "log_directory": tmp_path / "logs",
        "initial_command": "export MOTHERLODE_TEST_INITIAL=yes",
        **kwargs,
    }
    return miner.run_multiple(**arguments)


# ---------------------------------------------------------------------------- cards


def _param_entries(text):
    """{(block, id): value} of a param card."""
    entries, block = {}, None
    for line in text.splitlines():
        tokens = line.split("#")[0].split()
        if len(tokens) == 2 and tokens[0].lower() == "block":
            block = tokens[1].lower()
        elif len(tokens) == 2 and block is not None:
            entries[(block, tokens[0])] = float(tokens[1])
        elif len(tokens) == 3 and tokens[0].lower() == "decay":
            entries[("decay", tokens[1])] = float(tokens[2])
    return entries


def _reweight_entries(text):
    """{benchmark: {(block, id): value}} of a reweight card, and the global commands."""
    launches, commands, current = {}, [], None
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("launch --rwgt_name="):
            current = launches.setdefault(line.split("=", 1)[1], {})
        elif line.startswith("set ") and current is not None:
            _, block, lha_id, value = line.split()
            current[(block.lower(), lha_id)] = float(value)
        elif line:
            commands.append(line)
    return launches, commands


def _run_card_entries(text):
    """{key: value} of the active (uncommented) entries of a run card."""
    entries = {}
    for line in text.splitlines():
        content = line.split("#")[0].split("!")[0]
        if "=" in content:
            value, key = content.rsplit("=", 1)
            entries[key.strip()] = value.strip()
    return entries


def test_param_card_sets_every_parameter_and_names_what_is_missing(miner):
    template = (CARDS / "param_card_sm.dat").read_text()
    card = param_card(template, miner.param_card_entries("b5"))
    entries = _param_entries(card)
    assert entries[("smeft", "7")] == 1.0 and entries[("smeft", "25")] == 1.0
    untouched = _param_entries(template)
    assert {k: v for k, v in entries.items() if k[0] != "smeft" or k[1] not in ("7", "25")} == {
        k: v for k, v in untouched.items() if k[0] != "smeft" or k[1] not in ("7", "25")
    }
    with pytest.raises(SetupError, match=r"card.dat: no entry 99 in block SMEFT"):
        param_card(template, [("SMEFT", 99, 1.0)], "card.dat")


def test_run_card_systematics(miner):
    template = (CARDS / "run_card_sig_sm.dat").read_text()
    entries = _run_card_entries(run_card(template, miner.systematics.values()))
    assert entries["use_syst"] == "True" and entries["systematics_program"] == "systematics"
    assert entries["systematics_arguments"] == (
        "['--mur=0.5,1.0,2.0', '--muf=0.5,1.0,2.0', '--together=mur,muf', '--dyn=-1']"
    )
    assert _run_card_entries(run_card(template, []))["use_syst"] == "False"
    assert "systematics_arguments" not in _run_card_entries(run_card(template, [], order="NLO"))
    with pytest.raises(InputError, match="order must be 'LO' or 'NLO'"):
        run_card(template, [], order="NNLO")


def test_two_variations_of_one_scale_are_refused():
    miner = MadMiner()
    miner.add_parameter("SMEFT", 7, "cHW", parameter_range=(-1.0, 1.0))
    miner.add_systematics("scale", "a", scale="mur")
    miner.add_systematics("scale", "b", scale="mu")
    with pytest.raises(SetupError, match="systematic 'b': a second mur variation"):
        systematics_arguments(miner.systematics.values())


@pytest.mark.madminer
def test_cards_equal_madminers_field_by_field(miner, stand_in_madgraph, tmp_path, madminer_python):
    """MadMiner 0.9.6 and motherlode write the cards of the same setup (both with the stand-in)."""
    mg_directory, _ = stand_in_madgraph(EVENTS_SM)
    pythia_card = CARDS / "pythia8_settings.cmnd"
    common = {
        "mg_directory": str(mg_directory),
        "proc_card_file": str(CARDS / "proc_card_signal.dat"),
        "param_card_template_file": str(CARDS / "param_card_sm.dat"),
        "run_card_files": [str(CARDS / "run_card_sig_sm.dat"), str(CARDS / "run_card_sig_b5.dat")],
        "pythia8_card_file": str(pythia_card),
        "sample_benchmarks": ["sm", "b5"],
    }
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    miner.run_multiple(
        **common, mg_process_directory=ours, log_directory=tmp_path / "logs_ours", only_prepare_script=True
    )
    spec = tmp_path / "spec.json"
    arguments = {
        **common,
        "mg_process_directory": str(theirs),
        "log_directory": str(tmp_path / "logs_theirs"),
    }
    setup = {
        "parameters": [("SMEFT", 7, "cHW", (-1.0, 1.0)), ("SMEFT", 25, "cHq3", (-1.0, 1.0))],
        "benchmarks": {name: {"cHW": c_hw, "cHq3": c_hq3} for name, (c_hw, c_hq3) in BENCHMARKS.items()},
        "scale_systematics": [("scales", "mu", (0.5, 1.0, 2.0))],
        "arguments": arguments,
    }
    spec.write_text(json.dumps(setup))
    result = subprocess.run(
        [madminer_python, str(Path(__file__).parent / "interop" / "madminer_run_multiple.py"), str(spec)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # MadMiner also runs the proc card's own "output proc_wh" line, here
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for i in range(4):
        cards = "madminer/cards"
        ours_param = (ours / cards / f"param_card_{i}.dat").read_text()
        assert _param_entries(ours_param) == _param_entries(
            (theirs / cards / f"param_card_{i}.dat").read_text()
        )
        ours_reweight, ours_commands = _reweight_entries(
            (ours / cards / f"reweight_card_{i}.dat").read_text()
        )
        theirs_reweight, theirs_commands = _reweight_entries(
            (theirs / cards / f"reweight_card_{i}.dat").read_text()
        )
        assert ours_reweight == theirs_reweight and len(ours_reweight) == 5
        assert ours_commands == theirs_commands == ["change output default", "change helicity False"]
        assert _run_card_entries((ours / cards / f"run_card_{i}.dat").read_text()) == _run_card_entries(
            (theirs / cards / f"run_card_{i}.dat").read_text()
        )
        assert (ours / cards / f"pythia8_card_{i}.dat").read_text() == pythia_card.read_text()
    # job i: run card i // 2, benchmark (sm, b5)[i % 2]
    assert _param_entries((ours / "madminer/cards/param_card_1.dat").read_text())[("smeft", "25")] == 1.0
    assert (
        _run_card_entries((ours / "madminer/cards/run_card_3.dat").read_text())["iseed"]
        == (_run_card_entries((CARDS / "run_card_sig_b5.dat").read_text())["iseed"])
    )


def test_our_reweight_card_names_the_benchmarks_madgraph_used(miner):
    """The reweight card of the shared W h sample (written by hand for MadGraph) sets the same values."""
    from motherlode.simulators.madgraph import reweight_card

    entries = {name: miner.param_card_entries(name) for name in BENCHMARKS}
    ours, _ = _reweight_entries(reweight_card(entries, "sm"))
    used, _ = _reweight_entries((CARDS / "reweight_card.dat").read_text())
    del used["sm"]
    assert ours == used


# ---------------------------------------------------------------------------- runs


def test_run_multiple_in_parallel_with_the_stand_in(miner, stand_in_madgraph, tmp_path):
    mg_directory, record = stand_in_madgraph(EVENTS_SM)
    folders = _run(
        miner,
        mg_directory,
        tmp_path,
        sample_benchmarks=["sm", "b5"],
        pythia8_card_file=CARDS / "pythia8_settings.cmnd",
        n_workers=2,
    )
    process = tmp_path / "mg_processes" / "signal"
    assert folders == [process / "Events" / "run_01", process / "Events" / "run_02"]
    for folder in folders:
        assert (folder / "unweighted_events.lhe.gz").is_file()
    assert sorted(p.name for p in (tmp_path / "mg_processes").iterdir()) == ["signal"]  # job copies removed
    calls = read_record(record)
    generate, *launches = calls
    assert all(call["initial_command_ran"] for call in calls)
    assert generate["commands"][-1] == f"output {process.resolve()} -f"
    assert "output proc_wh" not in generate["commands"]  # the proc card's own output line is dropped
    assert any(c.startswith("generate p p > w+ h") for c in generate["commands"])
    assert sorted(run["name"] for call in launches for run in call["runs"]) == ["run_01", "run_02"]
    for call in launches:
        (run,) = call["runs"]
        assert run["settings"] == {
            "shower": "Pythia8", "detector": "OFF", "analysis": "OFF", "madspin": "OFF", "reweight": "ON",
        }  # fmt: skip
    runs = json.loads((process / "madminer" / "runs.json").read_text())
    assert [(r["run"], r["sample_benchmark"]) for r in runs] == [("run_01", "sm"), ("run_02", "b5")]
    assert {p.name for p in (tmp_path / "logs").iterdir()} == {"generate.log", "run_0.log", "run_1.log"}
    assert "Cross-section" in (tmp_path / "logs" / "run_1.log").read_text()
    # the events MadGraph made are read back
    miner.save(tmp_path / "setup.h5")
    reader = LHEReader(tmp_path / "setup.h5", progress=False)
    reader.add_sample(process / "Events" / "run_01" / "unweighted_events.lhe.gz", "sm")
    reader.add_observable("n_j", "len(j)")
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5")
    assert (tmp_path / "events.h5").is_file()


def test_run_and_background(miner, stand_in_madgraph, tmp_path):
    mg_directory, record = stand_in_madgraph(EVENTS_SM)
    (folder,) = miner.run(
        mg_directory,
        CARDS / "proc_card_background.dat",
        CARDS / "param_card_sm.dat",
        run_card_file=CARDS / "run_card_wbb_bkg.dat",
        mg_process_directory=tmp_path / "background",
        is_background=True,
        log_directory=tmp_path / "logs",
        python_executable="python3",
    )
    assert folder == tmp_path / "background" / "Events" / "run_01"
    (launch,) = read_record(record)[1]["runs"]
    assert launch["settings"]["reweight"] == "OFF" and launch["settings"]["shower"] == "OFF"
    assert not (tmp_path / "background" / "madminer" / "cards" / "reweight_card_0.dat").exists()
    # python_executable without initial_command puts its folder on PATH (MadMiner's behaviour)
    assert read_record(record)[0]["argv"][0].endswith("generate.mg5")


def test_scripts_run_jobs_in_parallel(miner, stand_in_madgraph, tmp_path):
    mg_directory, record = stand_in_madgraph(EVENTS_SM)
    (master,) = _run(
        miner, mg_directory, tmp_path, sample_benchmarks=["sm", "b1", "b5"], only_prepare_script=True
    )
    process = tmp_path / "mg_processes" / "signal"
    assert master == process / "madminer" / "run.sh" and os.access(master, os.X_OK)
    mapping = "# job 2: sampling b5, run card madminer/cards/run_card_2.dat -> Events/run_03"
    assert mapping in master.read_text()
    assert not list((process / "Events").iterdir())  # nothing generated yet
    assert len(read_record(record)) == 1  # only the process folder was made
    scripts = sorted((process / "madminer" / "scripts").iterdir())
    assert [s.name for s in scripts] == ["run_0.sh", "run_1.sh", "run_2.sh"]
    env = {**os.environ, "MOTHERLODE_TEST_INITIAL": "no"}
    result = subprocess.run(
        ["bash", str(master), "-j", "2"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (process / "Events").iterdir()) == ["run_01", "run_02", "run_03"]
    assert sorted(p.name for p in (tmp_path / "mg_processes").iterdir()) == ["signal"]
    launches = read_record(record)[1:]
    assert all(call["initial_command_ran"] for call in launches)  # the scripts run the initial command
    assert sorted(call["runs"][0]["name"] for call in launches) == ["run_01", "run_02", "run_03"]


def test_reweight_existing_sample(miner, stand_in_madgraph, tmp_path):
    mg_directory, record = stand_in_madgraph(EVENTS_SM)
    _run(miner, mg_directory, tmp_path, sample_benchmarks=["sm"])
    process = tmp_path / "mg_processes" / "signal"
    folder = miner.reweight_existing_sample(
        process, "run_01", CARDS / "param_card_sm.dat", "sm", log_directory=tmp_path / "logs"
    )
    # MadMiner 0.9.6 crashes with reweight_benchmarks=None; here it means every other benchmark
    assert (folder / "reweighted_by_stand_in.txt").read_text().split() == ["b1", "b2", "b3", "b4", "b5"]
    call = read_record(record)[-1]
    assert call["program"] == "madevent" and call["argv"] == ["reweight", "run_01", "-f"]
    script = miner.reweight_existing_sample(
        process, "run_01", CARDS / "param_card_sm.dat", "sm", ["b5"], only_prepare_script=True,
        log_directory=tmp_path / "logs",
    )  # fmt: skip
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert (folder / "reweighted_by_stand_in.txt").read_text().split() == ["b5"]
    with pytest.raises(InputError, match="has no run 'run_07'"):
        miner.reweight_existing_sample(process, "run_07", CARDS / "param_card_sm.dat", "sm")


# ---------------------------------------------------------------------------- failures


def test_madgraph_errors_are_reported_with_the_log(miner, stand_in_madgraph, tmp_path):
    mg_directory, _ = stand_in_madgraph(EVENTS_SM, mode="fail-generate")
    with pytest.raises(ExternalCommandError, match=r"(?s)MadGraph \(generating .*exit status 1.*InvalidCmd"):
        _run(miner, mg_directory, tmp_path)
    assert (tmp_path / "logs" / "generate.log").is_file()


def test_an_error_madgraph_only_reports_is_an_error(miner, stand_in_madgraph, tmp_path):
    """MadGraph reports a failed command (e.g. its reweighting) and may still exit with status 0."""
    mg_directory, _ = stand_in_madgraph(EVENTS_SM, mode="error-exit-0")
    with pytest.raises(
        ExternalCommandError, match=r"(?s)run_01, sampling sm\): MadGraph reported an error.*ImportError"
    ):
        _run(miner, mg_directory, tmp_path, sample_benchmarks=["sm"])


def test_madgraph_never_waits_for_an_answer(miner, stand_in_madgraph, tmp_path):
    """A question gets end-of-file at once; a hung run is stopped by the timeout."""
    mg_directory, _ = stand_in_madgraph(EVENTS_SM, mode="ask")
    _run(miner, mg_directory, tmp_path, sample_benchmarks=["sm"], timeout=60)
    assert "end of input, no answer" in (tmp_path / "logs" / "run_0.log").read_text()
    mg_directory, _ = stand_in_madgraph(EVENTS_SM, mode="hang")
    with pytest.raises(ExternalCommandError, match=r"did not finish within 2 s and was stopped"):
        _run(miner, mg_directory, tmp_path, sample_benchmarks=["sm"], timeout=2)


def test_input_errors(miner, stand_in_madgraph, tmp_path):
    mg_directory, _ = stand_in_madgraph(EVENTS_SM)
    with pytest.raises(InputError, match=r"param card template .*missing.dat does not exist"):
        _run(miner, mg_directory, tmp_path, param_card_template_file=tmp_path / "missing.dat")
    with pytest.raises(SetupError, match=r"b9"):
        _run(miner, mg_directory, tmp_path, sample_benchmarks=["b9"])
    with pytest.raises(SetupError, match=r"systematics \['pdf'\] are not set up"):
        _run(miner, mg_directory, tmp_path, systematics=["pdf"])
    with pytest.raises(SetupError, match=r"python_executable 'python9\.9' is not found"):
        _run(miner, mg_directory, tmp_path, initial_command=None, python_executable="python9.9")
    with pytest.raises(SetupError, match="no MadGraph at"):
        _run(miner, tmp_path / "nowhere", tmp_path)


def test_ufo_model_is_copied_into_madgraph(miner, stand_in_madgraph, tmp_path):
    mg_directory, _ = stand_in_madgraph(EVENTS_SM)
    model = tmp_path / "MyModel_UFO"
    model.mkdir()
    (model / "particles.py").write_text("# a model\n")
    _run(miner, mg_directory, tmp_path, sample_benchmarks=["sm"], ufo_model_directory=model)
    assert (mg_directory / "models" / "MyModel_UFO" / "particles.py").read_text() == "# a model\n"
    np.testing.assert_equal(len(list((tmp_path / "mg_processes" / "signal" / "Events").iterdir())), 1)
