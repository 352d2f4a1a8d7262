#!/usr/bin/env python3
"""A scripted stand-in for MadGraph5_aMC in tests: ``mg5_aMC <commands file>`` and ``madevent``.

It reads a MadGraph command file the way MadGraph does, checks the sequence it receives and
writes recorded real MadGraph output where MadGraph would:

* ``import model``, ``define``, ``set``, ``generate``, ``add process``: accepted;
* ``output <dir> [-f]``: makes a process folder (``Cards/`` with default cards, ``bin/madevent``,
  ``Events/``); an existing, non-empty folder without ``-f`` makes it ask whether to overwrite,
  as MadGraph does, and read the answer from standard input;
* ``launch <dir> [-n <name>]`` and its answers up to ``done`` (``shower=``, ``detector=``,
  ``analysis=``, ``madspin=``, ``reweight=``): checks that the cards it needs are in ``Cards/``
  and copies the recorded events (``$MG_STANDIN_EVENTS``) to ``Events/<name>/unweighted_events.lhe.gz``;
  the default run name is ``run_<n>`` after the runs already there;
* ``madevent reweight <run> -f`` (the process folder's ``bin/madevent``): checks the reweight
  card, records the benchmarks it names and, with ``$MG_STANDIN_REWEIGHTED``, replaces the run's
  events by that recorded reweighted output.

Every call appends a JSON line to ``$MG_STANDIN_RECORD``: the arguments, the commands, whether
``$MOTHERLODE_TEST_INITIAL`` was set (the initial command ran). ``$MG_STANDIN_MODE`` makes it
misbehave: ``fail-generate`` (MadGraph's error for an unknown particle, exit 1), ``hang`` (never
finishes), ``ask`` (asks a question at launch and reads the answer from standard input),
``error-exit-0`` (reports a failed launch in its output and exits with status 0, as MadGraph does
when its reweighting fails).
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

DEFAULT_RUN_CARD = """#*********************************************************************
# stand-in default run card
#*********************************************************************
  10000 = nevents ! Number of unweighted events requested
  average = event_norm ! average/sum. Normalization of the weight in the LHEF
  False = use_syst ! Enable systematics studies
"""


def record(entry):
    path = os.environ.get("MG_STANDIN_RECORD")
    if path:
        entry["initial_command_ran"] = os.environ.get("MOTHERLODE_TEST_INITIAL") == "yes"
        entry["pid"] = os.getpid()
        with open(path, "a") as stream:
            stream.write(json.dumps(entry) + "\n")


def ask(question):
    print(question, flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print("stand-in: end of input, no answer", flush=True)
    return answer.strip()


def output(arguments):
    folder = Path(arguments[0])
    exists = folder.exists() and any(folder.iterdir())
    if (
        exists
        and "-f" not in arguments
        and ask(f"{folder} exists: do you want to overwrite it? [y/n]") != "y"
    ):
        print(f"stand-in: {folder} exists, not overwritten", flush=True)
        sys.exit(2)
    shutil.rmtree(folder, ignore_errors=True)
    for sub in ("Cards", "Events", "bin", "SubProcesses"):
        (folder / sub).mkdir(parents=True)
    (folder / "Cards" / "run_card.dat").write_text(DEFAULT_RUN_CARD)
    (folder / "Cards" / "param_card.dat").write_text("Block MASS\n   23 9.118760e+01\n")
    madevent = folder / "bin" / "madevent"
    madevent.write_text(f'#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} --madevent "$@"\n')
    madevent.chmod(0o755)
    print(f"Output to directory {folder} done.", flush=True)


def launch(arguments, answers):
    folder = Path(arguments[0])
    name = arguments[arguments.index("-n") + 1] if "-n" in arguments else None
    if name is None:
        name = f"run_{len(list((folder / 'Events').glob('run_*'))) + 1:02d}"
    settings = dict(answer.split("=", 1) for answer in answers if "=" in answer)
    needed = ["param_card.dat", "run_card.dat"]
    if settings.get("reweight") == "ON":
        needed.append("reweight_card.dat")
    if settings.get("shower", "OFF") != "OFF":
        needed.append("pythia8_card.dat")
    missing = [card for card in needed if not (folder / "Cards" / card).is_file()]
    if missing:
        print(f"stand-in: missing cards {missing}", flush=True)
        sys.exit(3)
    mode = os.environ.get("MG_STANDIN_MODE", "")
    if mode == "hang":
        time.sleep(3600)
    if mode == "ask":
        ask("Do you want to edit a card (press enter to bypass editing)?")
    if mode == "error-exit-0":  # as MadGraph does when the reweighting fails: it reports and goes on
        print(f'Command "generate_events {name}" interrupted with error:\nImportError : numpy', flush=True)
        return name, settings
    run = folder / "Events" / name
    run.mkdir(parents=True)
    shutil.copyfile(os.environ["MG_STANDIN_EVENTS"], run / "unweighted_events.lhe.gz")
    print(
        f"  === Results Summary for run: {name} tag: tag_1 ===\n  Cross-section :   842.9 +- 1.2 pb",
        flush=True,
    )
    return name, settings


def main(argv):
    if argv[:1] == ["--madevent"]:
        arguments = argv[1:]
        card = Path("Cards") / "reweight_card.dat"
        names = [
            line.split("=", 1)[1].strip() for line in card.read_text().splitlines() if "--rwgt_name" in line
        ]
        record({"program": "madevent", "argv": arguments, "cwd": os.getcwd(), "benchmarks": names})
        if arguments[:1] != ["reweight"] or "-f" not in arguments:
            sys.exit(4)
        run = Path("Events") / arguments[1]
        (run / "reweighted_by_stand_in.txt").write_text("\n".join(names) + "\n")
        if os.environ.get("MG_STANDIN_REWEIGHTED"):  # recorded output of a reweighted run
            shutil.copyfile(os.environ["MG_STANDIN_REWEIGHTED"], run / "unweighted_events.lhe.gz")
        return
    commands = [
        line.split("#")[0].strip()
        for line in Path(argv[0]).read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    entry = {"program": "mg5_aMC", "argv": argv, "commands": commands, "runs": []}
    position = 0
    while position < len(commands):
        command = commands[position]
        words = command.split()
        if os.environ.get("MG_STANDIN_MODE") == "fail-generate" and words[0] == "generate":
            print(
                f'Command "{command}" interrupted with error:\nInvalidCmd : No particle foo in model',
                flush=True,
            )
            record(entry)
            sys.exit(1)
        if words[0] == "output":
            output(words[1:])
        elif words[0] == "launch":
            end = commands.index("done", position)
            name, settings = launch(words[1:], commands[position + 1 : end])
            entry["runs"].append({"name": name, "settings": settings})
            position = end
        elif words[0] not in ("import", "define", "set", "generate", "add"):
            print(f"stand-in: unknown command {command!r}", flush=True)
            sys.exit(5)
        position += 1
    record(entry)


if __name__ == "__main__":
    main(sys.argv[1:])
