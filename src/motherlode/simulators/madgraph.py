"""Steering MadGraph5_aMC: the cards, the process folder, event generation and reweighting.

This module writes the cards MadMiner writes, in the same places, and runs MadGraph the way
MadMiner does, but never waits on a prompt and runs independent jobs in parallel:

* **Cards** (:func:`param_card`, :func:`reweight_card`, :func:`run_card`, :func:`launch_commands`):
  the param card of the sampling benchmark from a template, the reweight card with one
  ``launch --rwgt_name=<benchmark>`` block per other benchmark, the run card with MadMiner's
  systematics settings, and the commands that launch a run. Parameter values go through each
  parameter's ``param_card_transform`` (motherlode's expression engine, never ``eval``).
* **Runs** (:func:`generate_process`, :func:`run_jobs`, :func:`reweight`): every MadGraph call
  goes through :func:`~motherlode.simulators.process.run_command` with its standard input
  closed (a question gets end-of-file, not an endless wait), an optional timeout, and a log
  whose end is in the error when it fails. Run ``i`` is named ``run_{i+1:02d}``, MadGraph's own
  name for the ``i``-th run of a fresh process folder, so MadMiner's scripts find the events
  where they look (``Events/run_01/unweighted_events.lhe.gz``); ``madminer/runs.json`` maps each
  run folder to its sampling benchmark and run card.
* **Parallel jobs**: MadGraph locks a process folder while it runs, so jobs run one after the
  other in it by default; with ``n_workers > 1`` each job runs in its own copy of the folder
  (``<process>.job_<i>``, next to it), and its run folder is moved back into ``<process>/Events``.
* **Scripts** (``only_prepare_script=True``): ``madminer/scripts/run_<i>.sh`` per job, with
  MadMiner's usage (``run_i.sh MG_directory MG_process_directory log_dir``), and the master
  ``madminer/run.sh``, which runs them one after the other, or ``-j N`` at a time in copies of
  the process folder.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ExternalCommandError, InputError, SetupError
from ..models import Systematic, SystematicScale, SystematicType
from ..parallel import ClientLike, map_ordered
from .process import run_command, shell_command

__all__ = [
    "MadGraphJob",
    "generate_process",
    "launch_commands",
    "param_card",
    "read_card",
    "reweight",
    "reweight_card",
    "run_card",
    "run_jobs",
    "write_card",
    "write_reweight_script",
    "write_scripts",
]

logger = logging.getLogger(__name__)

#: Run-card entries MadMiner comments out before appending its own systematics settings.
SYSTEMATICS_ENTRIES = (
    "use_syst",
    "systematics_program",
    "systematics_argument",
    "systematics_arguments",
    "sys_scalefact",
    "sys_alpsfact",
    "sys_matchscale",
    "sys_pdf",
)

Entry = tuple[str, int, float]  # (LHA block, LHA id, value)


# ---------------------------------------------------------------------------- cards


def _format(value: float) -> str:
    return repr(float(value))


def param_card(template: str, entries: Iterable[Entry], template_name: str = "param card template") -> str:
    """The param card ``template`` with each ``(block, id, value)`` of ``entries`` set.

    A value is set in the line ``<id> <value>`` of ``Block <block>`` (block names are
    case-insensitive, comments after ``#`` are ignored), or in a three-token line
    ``<block> <id> <value>`` such as ``DECAY 25 4.07e-03``.

    Raises
    ------
    SetupError
        If the template has no such entry (naming the block, id and template).

    Examples
    --------
    >>> card = "Block SMEFT\\n    7 0.0 # cHW\\n   25 0.0 # cHq3\\nDECAY 25 4.07e-03\\n"
    >>> print(param_card(card, [("SMEFT", 25, 1.5), ("DECAY", 25, 0.005)]))
    Block SMEFT
        7 0.0 # cHW
        25    1.5    # motherlode
    DECAY    25    0.005    # motherlode
    <BLANKLINE>
    """
    lines = template.split("\n")
    for block, lha_id, value in entries:
        block_name = block.lower()
        current_block = None
        for number, line in enumerate(lines):
            tokens = line.split("#")[0].split()
            if len(tokens) == 2 and tokens[0].lower() == "block":
                current_block = tokens[1].lower()
            elif len(tokens) == 2 and current_block == block_name and _is_int(tokens[0], lha_id):
                lines[number] = f"    {lha_id}    {_format(value)}    # motherlode"
                break
            elif len(tokens) == 3 and tokens[0].lower() == block_name and _is_int(tokens[1], lha_id):
                lines[number] = f"{block}    {lha_id}    {_format(value)}    # motherlode"
                break
            elif len(tokens) == 3:
                current_block = None  # a DECAY line ends the block before it
        else:
            raise SetupError(f"{template_name}: no entry {lha_id} in block {block} to set")
    return "\n".join(lines)


def _is_int(token: str, expected: int) -> bool:
    try:
        return int(token) == expected
    except ValueError:
        return False


def reweight_card(benchmarks: Mapping[str, Sequence[Entry]], sample_benchmark: str | None) -> str:
    """MadGraph's reweight card: one ``launch --rwgt_name=<name>`` block per benchmark except
    ``sample_benchmark``, setting each parameter's param-card entry.

    Examples
    --------
    >>> print(reweight_card({"sm": [("SMEFT", 7, 0.0)], "b1": [("SMEFT", 7, 1.0)]}, "sm"))
    # Reweight card generated by motherlode (MadMiner's layout)
    <BLANKLINE>
    # Global setup
    change output default
    change helicity False
    <BLANKLINE>
    # MadMiner benchmark b1
    launch --rwgt_name=b1
      set SMEFT 7 1.0
    <BLANKLINE>
    """
    lines = [
        "# Reweight card generated by motherlode (MadMiner's layout)",
        "",
        "# Global setup",
        "change output default",
        "change helicity False",
    ]
    for name, entries in benchmarks.items():
        if name == sample_benchmark:
            continue
        lines += ["", f"# MadMiner benchmark {name}", f"launch --rwgt_name={name}"]
        lines += [f"  set {block} {lha_id} {_format(value)}" for block, lha_id, value in entries]
        lines.append("")
    return "\n".join(lines)


def systematics_arguments(systematics: Iterable[Systematic]) -> list[str]:
    """The arguments of MadGraph's ``systematics`` program for scale and PDF systematics.

    Raises
    ------
    SetupError
        If two systematics vary the same scale, or two vary the PDF.
    """
    arguments: list[str] = []
    varied: set[str] = set()

    def claim(what: str, name: str) -> None:
        if what in varied:
            raise SetupError(f"systematic {name!r}: a second {what} variation (MadGraph runs one per run)")
        varied.add(what)

    for systematic in systematics:
        if systematic.type == SystematicType.SCALE:
            varied_scales: dict[SystematicScale | None, tuple[str, ...]] = {
                SystematicScale.MU: ("mur", "muf"),
                SystematicScale.MUR: ("mur",),
            }
            scales = varied_scales.get(systematic.scale, ("muf",))
            for scale in scales:
                claim(scale, systematic.name)
                arguments.append(f"--{scale}={systematic.value}")
            if len(scales) == 2:
                arguments.append("--together=mur,muf")
        elif systematic.type == SystematicType.PDF:
            claim("pdf", systematic.name)
            arguments.append(f"--pdf={systematic.value}")
    if any(argument.startswith(("--mur", "--muf")) for argument in arguments):
        arguments.append("--dyn=-1")
    return arguments


def run_card(template: str, systematics: Iterable[Systematic], order: str = "LO") -> str:
    """The run card ``template`` with MadMiner's systematics settings.

    Every systematics entry of the template is commented out; at LO the settings follow at the
    end: ``use_syst`` (True if a scale or PDF systematic is set up), ``systematics_program`` and
    ``systematics_arguments``. At NLO the entries are only commented out (MadGraph's NLO
    systematics are set in the card by the user).
    """
    if order not in ("LO", "NLO"):
        raise InputError(f"order must be 'LO' or 'NLO', got {order!r}")
    arguments = systematics_arguments(systematics)
    lines = template.split("\n")
    for number, line in enumerate(lines):
        content = line.split("#")[0].split("!")[0]
        if "=" in content and content.split("=")[-1].strip() in SYSTEMATICS_ENTRIES:
            lines[number] = f"# {line} # Commented out by motherlode (MadMiner's systematics setup)"
    if order == "LO":
        lines += [
            "",
            "#*********************************************************************",
            "# MadMiner systematics setup                                         *",
            "#*********************************************************************",
            f"{bool(arguments)} = use_syst",
        ]
        if arguments:
            quoted = ", ".join(f"'{argument}'" for argument in arguments)
            lines += ["systematics = systematics_program", f"[{quoted}] = systematics_arguments"]
        lines.append("")
    return "\n".join(lines)


def launch_commands(
    process_directory: str, run_name: str, shower: bool, reweight_events: bool, order: str = "LO"
) -> str:
    """The MadGraph commands that launch one run and answer its questions."""
    shower_mode = ("PYTHIA8" if order == "NLO" else "Pythia8") if shower else "OFF"
    lines = [
        f"launch {process_directory} -n {run_name}",
        f"shower={shower_mode}",
        "detector=OFF",
        "analysis=OFF",
        "madspin=OFF",
        f"reweight={'ON' if reweight_events else 'OFF'}",
        "done",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- files and processes


def write_card(path: Path, text: str, executable: bool = False) -> None:
    """Write ``text`` to ``path`` atomically (parents made; ``executable``: mode +x)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    if executable:
        temporary.chmod(temporary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(temporary, path)


def read_card(path: str | os.PathLike[str], what: str) -> str:
    """The text of a card the user gave; an :class:`InputError` naming it when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist or is not a file")
    return path.read_text()


def _mg5(mg_directory: str | os.PathLike[str], python_executable: str | None) -> list[str]:
    executable = Path(mg_directory) / "bin" / "mg5_aMC"
    if not executable.is_file():
        raise SetupError(f"no MadGraph at {mg_directory}: {executable} does not exist")
    return [python_executable, str(executable)] if python_executable else [str(executable)]


#: How MadGraph reports a failed command. It then goes on, and may exit with status 0.
_MADGRAPH_ERROR = "interrupted with error"


def _run_madgraph(arguments: list[str], log_file: Path, what: str, **options: Any) -> None:
    """:func:`run_command` for MadGraph: also a failure when the log reports a failed command,
    which MadGraph does not always turn into a nonzero exit status."""
    run_command(arguments, log_file, what=what, **options)
    lines = Path(log_file).read_text(errors="replace").splitlines()
    failed = [number for number, line in enumerate(lines) if _MADGRAPH_ERROR in line]
    if failed:
        first = failed[0]
        excerpt = "\n".join(lines[max(0, first - 5) : first + 6])
        raise ExternalCommandError(
            f"{what}: MadGraph reported an error (and exited with status 0); its log {log_file} "
            f"says:\n{excerpt}",
            " ".join(arguments),
            1,
            str(log_file),
            excerpt,
        )


def generate_process(
    mg_directory: str | os.PathLike[str],
    proc_card_file: str | os.PathLike[str],
    process_directory: str | os.PathLike[str],
    *,
    log_file: str | os.PathLike[str],
    ufo_model_directory: str | os.PathLike[str] | None = None,
    initial_command: str | None = None,
    python_executable: str | None = None,
    temp_directory: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> None:
    """Make the MadGraph process folder: the proc card's commands, then ``output <folder> -f``.

    ``output``, ``launch`` and ``exit`` lines of the proc card are dropped (with a warning): the
    folder is the one given here, made anew.

    A UFO model folder is first copied into MadGraph's ``models`` folder (replacing an older
    copy of the same name).
    """
    kept = []
    for line in read_card(proc_card_file, "proc card").splitlines():
        words = line.split("#")[0].split()
        if words and words[0] in ("output", "launch", "exit", "quit"):
            logger.warning("%s: ignoring %r (the output folder is set here)", proc_card_file, line.strip())
            continue
        kept.append(line)
    commands = "\n".join(kept).rstrip("\n")
    if ufo_model_directory is not None:
        model = Path(ufo_model_directory)
        if not model.is_dir():
            raise InputError(f"UFO model directory {model} does not exist")
        target = Path(mg_directory) / "models" / model.name
        logger.info("Copying the UFO model %s to %s", model, target)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(model, target)
    with tempfile.TemporaryDirectory(prefix="motherlode-mg-", dir=temp_directory) as directory:
        script = Path(directory) / "generate.mg5"
        script.write_text(f"{commands}\n\noutput {Path(process_directory).resolve()} -f\n")
        logger.info("Generating the MadGraph process folder %s from %s", process_directory, proc_card_file)
        _run_madgraph(
            shell_command([*_mg5(mg_directory, python_executable), script], initial_command),
            Path(log_file),
            f"MadGraph (generating {process_directory})",
            timeout=timeout,
        )
    if not Path(process_directory, "Cards").is_dir():
        raise SetupError(f"MadGraph made no process folder at {process_directory}; see its log {log_file}")


@dataclass(frozen=True)
class MadGraphJob:
    """One event-generation run: its cards (relative to the process folder) and its run name."""

    index: int
    sample_benchmark: str | None
    run_card: str | None
    param_card: str
    reweight_card: str | None
    pythia8_card: str | None
    configuration: str | None
    commands: str
    log_file: str

    @property
    def run_name(self) -> str:
        """MadGraph's name of the run, ``run_01`` for the first."""
        return f"run_{self.index + 1:02d}"


def _card_targets(order: str) -> dict[str, str]:
    return {
        "run_card": "run_card.dat",
        "param_card": "param_card.dat",
        "reweight_card": "reweight_card.dat",
        "pythia8_card": "shower_card.dat" if order == "NLO" else "pythia8_card.dat",
        "configuration": "me5_configuration.txt",
    }


def _install_cards(job: MadGraphJob, source: Path, target: Path, order: str) -> None:
    for field, name in _card_targets(order).items():
        card = getattr(job, field)
        if card is not None:
            shutil.copyfile(source / card, target / "Cards" / name)


def _run_job(
    job: MadGraphJob,
    mg_directory: str | os.PathLike[str],
    process_directory: Path,
    log_directory: Path,
    *,
    parallel: bool,
    order: str,
    initial_command: str | None,
    python_executable: str | None,
    timeout: float | None,
) -> Path:
    """Run one job, in the process folder or (``parallel``) in a copy of it; its run folder."""
    workdir = process_directory
    if parallel:
        workdir = process_directory.with_name(f"{process_directory.name}.job_{job.index}")
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.copytree(process_directory, workdir, symlinks=True, ignore=shutil.ignore_patterns("Events"))
        (workdir / "Events").mkdir()
    try:
        _install_cards(job, process_directory, workdir, order)
        commands = workdir / "Cards" / f"motherlode_commands_{job.index}.mg5"
        text = (process_directory / job.commands).read_text().replace("$mgprocdir", str(workdir.resolve()))
        commands.write_text(text)
        logger.info("MadGraph run %s (sampling %s) in %s", job.run_name, job.sample_benchmark, workdir)
        _run_madgraph(
            shell_command([*_mg5(mg_directory, python_executable), commands], initial_command),
            log_directory / job.log_file,
            f"MadGraph ({job.run_name}, sampling {job.sample_benchmark})",
            timeout=timeout,
        )
        produced = workdir / "Events" / job.run_name
        if not produced.is_dir():
            raise SetupError(
                f"MadGraph finished {job.run_name} without an event folder {produced}; "
                f"see {log_directory / job.log_file}"
            )
        if parallel:
            final = process_directory / "Events" / job.run_name
            shutil.rmtree(final, ignore_errors=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(produced, final)
            produced = final
        return produced
    finally:
        if parallel:
            shutil.rmtree(workdir, ignore_errors=True)


def run_jobs(
    jobs: Sequence[MadGraphJob],
    mg_directory: str | os.PathLike[str],
    process_directory: str | os.PathLike[str],
    log_directory: str | os.PathLike[str],
    *,
    n_workers: int = 1,
    order: str = "LO",
    initial_command: str | None = None,
    python_executable: str | None = None,
    timeout: float | None = None,
    client: ClientLike = None,
) -> list[Path]:
    """Run the jobs, ``n_workers`` at a time (each in its own copy of the process folder when
    more than one), or as Dask tasks on ``client`` (each in its own copy); their run folders, in
    the order of ``jobs``."""
    process = Path(process_directory)
    n_workers = max(1, min(int(n_workers), len(jobs)))
    run = functools.partial(
        _run_job,
        mg_directory=mg_directory,
        process_directory=process,
        log_directory=Path(log_directory),
        parallel=n_workers > 1 or client is not None,
        order=order,
        initial_command=initial_command,
        python_executable=python_executable,
        timeout=timeout,
    )
    if client is not None:
        return list(map_ordered(run, jobs, client, max_in_flight=len(jobs)))
    if n_workers == 1:
        return [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        futures = [pool.submit(run, job) for job in jobs]
        return [future.result() for future in futures]


def write_run_map(
    process_directory: str | os.PathLike[str], jobs: Sequence[MadGraphJob], is_background: bool
) -> Path:
    """``madminer/runs.json``: each run folder with its sampling benchmark and cards."""
    entries = [
        {
            "run": job.run_name,
            "events": f"Events/{job.run_name}/unweighted_events.lhe.gz",
            "sample_benchmark": job.sample_benchmark,
            "is_background": is_background,
            "run_card": job.run_card,
            "param_card": job.param_card,
            "reweight_card": job.reweight_card,
            "log_file": job.log_file,
        }
        for job in jobs
    ]
    path = Path(process_directory) / "madminer" / "runs.json"
    write_card(path, json.dumps(entries, indent=2) + "\n")
    return path


def write_scripts(
    jobs: Sequence[MadGraphJob],
    mg_directory: str | os.PathLike[str],
    process_directory: str | os.PathLike[str],
    log_directory: str | os.PathLike[str],
    *,
    order: str = "LO",
    initial_command: str | None = None,
    python_executable: str | None = None,
) -> Path:
    """The job scripts ``madminer/scripts/run_<i>.sh`` and the master script ``madminer/run.sh``."""
    process = Path(process_directory)
    python = f"{shlex.quote(python_executable)} " if python_executable else ""
    for job in jobs:
        copies = [
            f'cp "$mgprocdir/{getattr(job, field)}" "$mgprocdir/Cards/{name}"'
            for field, name in _card_targets(order).items()
            if getattr(job, field) is not None
        ]
        body = [
            "#!/bin/bash",
            "",
            "# Script generated by motherlode (MadMiner's layout)",
            "",
            f"# Usage: run_{job.index}.sh MG_directory MG_process_directory log_dir",
            "",
            "set -e",
            initial_command or "",
            "",
            'mgdir=$1\nmgprocdir=$2\nmmlogdir=$3\nmkdir -p "$mmlogdir"',
            "",
            *copies,
            "",
            f"sed -e 's@\\$mgprocdir@'\"$mgprocdir\"'@' \"$mgprocdir/{job.commands}\" > "
            f'"$mgprocdir/Cards/mg_commands.mg5"',
            "",
            f'{python}"$mgdir/bin/mg5_aMC" "$mgprocdir/Cards/mg_commands.mg5" < /dev/null > '
            f'"$mmlogdir/{job.log_file}" 2>&1',
            "",
        ]
        write_card(process / "madminer" / "scripts" / f"run_{job.index}.sh", "\n".join(body), executable=True)
    master = process / "madminer" / "run.sh"
    lines = [
        "#!/bin/bash",
        "",
        "# Master script generated by motherlode (MadMiner's layout)",
        "#",
        "# Usage: run.sh [-j N] [MG_directory] [MG_process_directory] [log_dir]",
        "#",
        "# Runs the jobs of madminer/runs.json: one after the other in the process folder, or with",
        "# -j N, N at a time, each in a copy of the process folder whose run folder is moved back into",
        "# <process folder>/Events. Run folder run_<i+1> holds the events of job i.",
        "",
        "set -e",
        "jobs=1",
        'if [ "$1" = "-j" ]; then jobs=$2; shift 2; fi',
        f"mgdir=${{1:-{shlex.quote(str(Path(mg_directory).resolve()))}}}",
        f"mgprocdir=${{2:-{shlex.quote(str(process.resolve()))}}}",
        f"mmlogdir=${{3:-{shlex.quote(str(Path(log_directory).resolve()))}}}",
        "",
        "run_job() {  # run_job <index> <run name>",
        '    if [ "$jobs" = 1 ]; then',
        '        "$mgprocdir/madminer/scripts/run_$1.sh" "$mgdir" "$mgprocdir" "$mmlogdir"',
        "    else",
        '        copy="$mgprocdir.job_$1"',
        '        rm -rf "$copy" && mkdir -p "$copy"',
        '        (cd "$mgprocdir" && tar --exclude=./Events -cf - .) | (cd "$copy" && tar -xf -)',
        '        mkdir -p "$copy/Events"',
        '        "$copy/madminer/scripts/run_$1.sh" "$mgdir" "$copy" "$mmlogdir"',
        '        rm -rf "$mgprocdir/Events/$2" && mv "$copy/Events/$2" "$mgprocdir/Events/$2"',
        '        rm -rf "$copy"',
        "    fi",
        "}",
        "",
        "status=0",
        "pids=()",
    ]
    for job in jobs:
        lines += [
            f"# job {job.index}: sampling {job.sample_benchmark}, run card {job.run_card or 'default'} "
            f"-> Events/{job.run_name}",
            f"run_job {job.index} {job.run_name} &",
            "pids+=($!)",
            'if [ "${#pids[@]}" -ge "$jobs" ]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi',
        ]
    lines += [
        'for pid in "${pids[@]}"; do wait "$pid" || status=1; done',
        "exit $status",
        "",
    ]
    write_card(master, "\n".join(lines), executable=True)
    return master


def reweight(
    process_directory: str | os.PathLike[str],
    run_name: str,
    *,
    log_file: str | os.PathLike[str],
    initial_command: str | None = None,
    timeout: float | None = None,
) -> None:
    """Run MadGraph's reweighting on an existing run (``bin/madevent reweight <run> -f``), with the
    reweight card already in ``Cards/reweight_card.dat``."""
    madevent = Path(process_directory) / "bin" / "madevent"
    if not madevent.is_file():
        raise SetupError(f"{process_directory} is not a MadGraph process folder: no {madevent}")
    _run_madgraph(
        shell_command([madevent, "reweight", run_name, "-f"], initial_command),
        Path(log_file),
        f"MadGraph reweighting of {run_name}",
        timeout=timeout,
        cwd=process_directory,
    )


def write_reweight_script(
    process_directory: str | os.PathLike[str],
    run_name: str,
    log_directory: str | os.PathLike[str],
    initial_command: str | None = None,
) -> Path:
    """``madminer/scripts/run_reweight.sh [MG_process_directory] [log_dir]``: install the cards of
    ``madminer/cards/*_reweight.dat`` and run MadGraph's reweighting of ``run_name``."""
    process = Path(process_directory)
    cards = '"$mgprocdir/madminer/cards'
    lines = [
        "#!/bin/bash",
        "",
        "# Script generated by motherlode (MadMiner's layout)",
        "# Usage: run_reweight.sh [MG_process_directory] [log_dir]",
        "",
        "set -e",
        initial_command or "",
        f"mgprocdir=${{1:-{shlex.quote(str(process.resolve()))}}}",
        f"mmlogdir=${{2:-{shlex.quote(str(Path(log_directory).resolve()))}}}",
        'mkdir -p "$mmlogdir"',
        f'cp {cards}/param_card_reweight.dat" "$mgprocdir/Cards/param_card.dat"',
        f'cp {cards}/reweight_card_reweight.dat" "$mgprocdir/Cards/reweight_card.dat"',
        f'cd "$mgprocdir" && ./bin/madevent reweight {shlex.quote(run_name)} -f < /dev/null '
        '> "$mmlogdir/reweight.log" 2>&1',
        "",
    ]
    script = process / "madminer" / "scripts" / "run_reweight.sh"
    write_card(script, "\n".join(lines), executable=True)
    return script
