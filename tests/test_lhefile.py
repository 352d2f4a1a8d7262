"""The streaming LHE reader (motherlode.lhe.lhefile), checked against pylhe and MadGraph's cross sections.

pylhe is the oracle: it parses the same text with ``float()`` and ElementTree, so every number must
agree exactly. Malformed files are corrupted copies of a small piece of a real MadGraph file.
"""

from __future__ import annotations

import gc
import gzip
import logging
import re
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from motherlode.errors import FileFormatError
from motherlode.lhe import lhefile
from motherlode.lhe.lhefile import (
    LHEEventChunk,
    count_lhe_events,
    iter_lhe_events,
    read_lhe_header,
)

pylhe = pytest.importorskip("pylhe")

DATA = Path(__file__).parent / "data" / "lhe"
FILES = sorted(DATA.glob("*.lhe.gz"))
MZ = DATA / "mg5_3.5.7_pp_ee_rwgt_mz_1000ev.lhe.gz"
CHL3 = DATA / "mg5_3.5.7_smeftsim_pp_ee_rwgt_cHl3_1000ev.lhe.gz"
DIJET = DATA / "pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz"
WBJ = DATA / "pylhe-testfile-madgraph-2.0.0-wbj.lhe.gz"
HVQ = DATA / "pylhe-testfile-powheg-box-v2-hvq.lhe.gz"

EVENT_FIELDS = {  # LHEEventChunk attribute: pylhe LHEEventInfo attribute
    "n_particles": "nparticles",
    "process_id": "pid",
    "weight": "weight",
    "scale": "scale",
    "alpha_qed": "aqed",
    "alpha_qcd": "aqcd",
}
PARTICLE_FIELDS = {  # LHEEventChunk attribute: pylhe LHEParticle attribute
    "pdgid": "id",
    "status": "status",
    "mother1": "mother1",
    "mother2": "mother2",
    "color1": "color1",
    "color2": "color2",
    "px": "px",
    "py": "py",
    "pz": "pz",
    "energy": "e",
    "mass": "m",
    "lifetime": "lifetime",
    "spin": "spin",
}

_PYLHE_CACHE: dict[Path, tuple] = {}


def read_with_pylhe(path: Path) -> tuple:
    """pylhe's file object and list of events (cached: pylhe is slow)."""
    if path not in _PYLHE_CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lhe = pylhe.LHEFile.fromfile(str(path))
            events = list(lhe.events)
        _PYLHE_CACHE[path] = lhe, events
    return _PYLHE_CACHE[path]


def read_all(path: Path | str, chunk_size: int = 100_000) -> dict:
    """All events of a file as one dict of arrays, and the chunks' sizes and first events."""
    chunks = list(iter_lhe_events(path, chunk_size=chunk_size))
    assert all(isinstance(chunk, LHEEventChunk) for chunk in chunks)
    columns = {"sizes": [chunk.n_events for chunk in chunks], "first": [c.first_event for c in chunks]}
    for name in ["event_line", *EVENT_FIELDS, *PARTICLE_FIELDS]:
        columns[name] = np.concatenate([getattr(chunk, name) for chunk in chunks])
    names = list(chunks[0].weights) if chunks else []
    assert all(list(chunk.weights) == names for chunk in chunks)
    columns["weights"] = {name: np.concatenate([chunk.weights[name] for chunk in chunks]) for name in names}
    return columns


def assert_same_events(ours: dict, theirs: dict) -> None:
    for name in ["event_line", *EVENT_FIELDS, *PARTICLE_FIELDS]:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert list(ours["weights"]) == list(theirs["weights"])
    for name in ours["weights"]:
        np.testing.assert_array_equal(ours["weights"][name], theirs["weights"][name], err_msg=name)


# ----------------------------------------------------------------------------------------------
# Every file against pylhe
# ----------------------------------------------------------------------------------------------


def test_all_test_files_are_used():
    assert len(FILES) == 20
    assert MZ in FILES and CHL3 in FILES and DIJET in FILES


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name.removesuffix(".lhe.gz"))
def test_header_agrees_with_pylhe(path):
    lhe, _ = read_with_pylhe(path)
    header = read_lhe_header(path)
    info = lhe.init.initInfo
    assert header.path == str(path)
    assert header.version == lhe.version
    assert header.beam_pdg_ids == (info.beamA, info.beamB)
    assert header.beam_energies == (info.energyA, info.energyB)
    assert header.pdf_groups == (info.PDFgroupA, info.PDFgroupB)
    assert header.pdf_sets == (info.PDFsetA, info.PDFsetB)
    assert header.weighting_strategy == info.weightingStrategy
    expected = [(p.procId, p.xSection, p.error, p.unitWeight) for p in lhe.init.procInfo]
    assert [(p.process_id, p.xsec, p.xsec_error, p.max_weight) for p in header.processes] == expected
    assert header.total_xsec == pytest.approx(sum(p.xSection for p in lhe.init.procInfo), rel=1e-15)
    assert header.generators == tuple(g.name or g.description for g in lhe.init.generators)

    # weight groups: pylhe lists groups and loose weights; consecutive loose weights form one group here
    expected_groups = []
    entries = lhe.header.initrwgt.entries if lhe.header is not None else []
    for entry in entries:
        if isinstance(entry, pylhe.LHEInitRWGTWeightGroup):
            name = entry.name if entry.name is not None else entry.extra_attributes.get("type")
            attributes = dict(entry.extra_attributes)
            if entry.combine is not None:
                attributes["combine"] = entry.combine
            expected_groups.append([name, attributes, list(entry.weights)])
        elif expected_groups and expected_groups[-1][0] is None and not expected_groups[-1][1]:
            expected_groups[-1][2].append(entry)
        else:
            expected_groups.append([None, {}, [entry]])
    assert len(header.weight_groups) == len(expected_groups)
    for group, (name, attributes, weights) in zip(header.weight_groups, expected_groups, strict=True):
        assert group.name == name
        assert dict(group.attributes) == attributes
        assert [w.id for w in group.weights] == [w.id for w in weights]
        assert [dict(w.attributes) for w in group.weights] == [w.extra_attributes for w in weights]
        assert [w.text for w in group.weights] == [w.name for w in weights]
        assert all(w.group == name for w in group.weights)
    assert header.weight_ids == tuple(w.id for _, _, weights in expected_groups for w in weights)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name.removesuffix(".lhe.gz"))
def test_events_agree_with_pylhe(path):
    _, events = read_with_pylhe(path)
    ours = read_all(path)
    assert len(ours["n_particles"]) == len(events) > 0
    for name, theirs in EVENT_FIELDS.items():
        expected = np.array([getattr(event.eventinfo, theirs) for event in events])
        np.testing.assert_array_equal(ours[name], expected, err_msg=name)
    for name, theirs in PARTICLE_FIELDS.items():
        expected = np.array([getattr(p, theirs) for event in events for p in event.particles])
        np.testing.assert_array_equal(ours[name], expected, err_msg=name)
        assert ours[name].dtype == (np.int64 if name in lhefile._INT_PARTICLE_COLUMNS else np.float64)
    # the same named weights, in the same order, with the same values
    assert list(ours["weights"]) == list(events[0].weights)
    for name, values in ours["weights"].items():
        assert values.dtype == np.float64
        np.testing.assert_array_equal(values, [event.weights[name] for event in events], err_msg=name)
    assert all(list(event.weights) == list(events[0].weights) for event in events)
    # event_line points at each <event> tag
    text = gzip.decompress(path.read_bytes()).split(b"\n")
    assert all(text[line - 1].lstrip().startswith(b"<event") for line in ours["event_line"])


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name.removesuffix(".lhe.gz"))
def test_count_agrees_with_pylhe(path):
    assert count_lhe_events(path) == pylhe.LHEFile.count_events(str(path)) > 0


# ----------------------------------------------------------------------------------------------
# Chunks, blocks, compression
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [MZ, WBJ, HVQ, DIJET], ids=lambda path: path.name.removesuffix(".lhe.gz"))
def test_chunk_size_does_not_change_the_events(path):
    whole = read_all(path, chunk_size=10**9)
    n = len(whole["n_particles"])
    assert whole["sizes"] == [n]
    for chunk_size in (1, 7, n - 1):
        chunked = read_all(path, chunk_size=chunk_size)
        assert_same_events(chunked, whole)
        assert chunked["sizes"] == [chunk_size] * (n // chunk_size) + (
            [n % chunk_size] if n % chunk_size else []
        )
        assert chunked["first"] == list(range(0, n, chunk_size))


def test_chunk_offsets_and_first_event():
    chunks = list(iter_lhe_events(MZ, chunk_size=300))
    assert [chunk.n_events for chunk in chunks] == [300, 300, 300, 100]
    assert [chunk.first_event for chunk in chunks] == [0, 300, 600, 900]
    for chunk in chunks:
        assert chunk.offsets[0] == 0 and chunk.offsets[-1] == chunk.pdgid.size
        np.testing.assert_array_equal(np.diff(chunk.offsets), chunk.n_particles)
        # each Drell-Yan event: two incoming partons first, then e+ e- (and an intermediate Z in some)
        starts = chunk.offsets[:-1]
        assert (chunk.status[starts] == -1).all() and (chunk.status[starts + 1] == -1).all()
        electrons = (np.abs(chunk.pdgid) == 11) & (chunk.status == 1)
        np.testing.assert_array_equal(np.add.reduceat(electrons, starts), 2)
        np.testing.assert_array_equal(np.add.reduceat(chunk.pdgid * electrons, starts), 0)


@pytest.mark.parametrize(
    ("path", "block_size"),
    [(WBJ, 257), (WBJ, 4099), (MZ, 4099), (MZ, 65536), (DIJET, 4099), (DIJET, 65536)],
    ids=lambda value: value.name.removesuffix(".lhe.gz") if isinstance(value, Path) else str(value),
)
def test_block_boundaries_inside_events_do_not_change_the_events(monkeypatch, path, block_size):
    """Blocks (of the decompressed stream) end inside events, tags and numbers."""
    whole = read_all(path)
    monkeypatch.setattr(lhefile, "BLOCK_SIZE", block_size)
    assert_same_events(read_all(path, chunk_size=13), whole)
    assert count_lhe_events(path) == len(whole["n_particles"])


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    """A decompressed copy named .gz and a compressed copy named .lhe give the same events."""
    plain = tmp_path / "plain_but_named.lhe.gz"
    plain.write_bytes(gzip.decompress(MZ.read_bytes()))
    compressed = tmp_path / "compressed_but_named.lhe"
    compressed.write_bytes(MZ.read_bytes())
    whole = read_all(MZ)
    assert_same_events(read_all(plain), whole)
    assert_same_events(read_all(compressed), whole)
    assert read_lhe_header(plain).processes == read_lhe_header(MZ).processes
    assert count_lhe_events(plain) == 1000
    assert sorted(path.name for path in tmp_path.iterdir()) == [compressed.name, plain.name]  # no unpacking


def test_reading_writes_nothing(tmp_path):
    copy = tmp_path / MZ.name
    copy.write_bytes(MZ.read_bytes())
    read_all(copy)
    count_lhe_events(copy)
    read_lhe_header(copy)
    assert list(tmp_path.iterdir()) == [copy]


def test_stopping_early_closes_cleanly():
    events = iter_lhe_events(DIJET, chunk_size=5)
    first = next(events)
    events.close()
    assert first.n_events == 5 and first.first_event == 0


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match="chunk_size"):
        next(iter_lhe_events(MZ, chunk_size=0))


# ----------------------------------------------------------------------------------------------
# Physics content of the MadGraph files
# ----------------------------------------------------------------------------------------------


def test_drell_yan_reweighting_cross_sections():
    header = read_lhe_header(MZ)
    events = read_all(MZ)
    assert header.run_card["event_norm"] == "average" and header.run_card["nevents"] == "1000"
    assert header.total_xsec == pytest.approx(840.0, rel=0.01)
    assert events["weight"].mean() == pytest.approx(header.total_xsec, rel=1e-6)
    assert list(events["weights"]) == ["mz95", "mz100", "aew130"]
    means = {name: values.mean() for name, values in events["weights"].items()}
    assert round(means["mz95"], 1) == 813.0
    assert round(means["mz100"], 1) == 1152.6
    assert round(means["aew130"], 1) == 843.0
    assert header.weight_info("mz95").text.startswith("set param_card mass 23 95.0")
    assert header.weight_info("mz95").group == "mg_reweighting"
    assert header.weight_groups[0].attributes == {"weight_name_strategy": "includeIdInWeightName"}


def test_smeft_reweighting_cross_sections():
    header = read_lhe_header(CHL3)
    events = read_all(CHL3)
    assert round(header.total_xsec, 2) == 801.01
    assert events["weight"].mean() == pytest.approx(801.01, rel=1e-6)
    assert list(events["weights"]) == ["cHl3_p1", "cHl3_m1"]
    assert round(events["weights"]["cHl3_p1"].mean(), 1) == 698.6
    assert round(events["weights"]["cHl3_m1"].mean(), 1) == 918.3
    assert header.beam_pdg_ids == (2212, 2212) and header.beam_energies == (6500.0, 6500.0)
    assert header.generators == ("MadGraph5_aMC@NLO",)


def test_145_scale_and_pdf_weights():
    header = read_lhe_header(DIJET)
    chunk = next(iter_lhe_events(DIJET))
    assert len(header.weight_ids) == 145 == len(chunk.weights)
    assert list(chunk.weights) == [str(i) for i in range(1, 146)]
    assert all(values.shape == (chunk.n_events,) for values in chunk.weights.values())
    scale, pdf = header.weight_groups
    assert scale.name == "Central scale variation" and dict(scale.attributes) == {"combine": "envelope"}
    assert pdf.name == "NNPDF23_lo_as_0130_qed" and dict(pdf.attributes) == {"combine": "replicas"}
    assert len(scale.weights) == 44 and len(pdf.weights) == 101
    assert dict(header.weight_info("2").attributes) == {
        "MUR": "0.5",
        "MUF": "0.5",
        "DYN_SCALE": "1",
        "PDF": "247000",
    }
    assert header.weight_info("2").text == "MUR=0.5 MUF=0.5 dyn_scale_choice=sum pt"
    assert dict(header.weight_info("46").attributes) == {"MUR": "1.0", "MUF": "1.0", "PDF": "247001"}
    assert header.weight_info("46").group == "NNPDF23_lo_as_0130_qed"
    # the central weight of the PDF group (MUR = MUF = 1, member 0) is the nominal event weight
    np.testing.assert_allclose(chunk.weights["45"], chunk.weight, rtol=1e-7)


def test_unknown_weight_id_names_id_and_file():
    with pytest.raises(KeyError, match=r"'nope'.*mg5_3\.5\.7_pp_ee"):
        read_lhe_header(MZ).weight_info("nope")


def test_lhef3_weights_blocks_are_named_by_the_declared_ids():
    chunk = next(iter_lhe_events(HVQ))
    header = read_lhe_header(HVQ)
    assert list(chunk.weights) == list(header.weight_ids) and len(chunk.weights) == 45
    # POWHEG's nominal <weights> value is XWGTUP, up to the few digits it writes
    np.testing.assert_allclose(chunk.weights["MUR1.0_MUF1.0_PDF99208082"], chunk.weight, rtol=1e-3)
    assert chunk.weights["MUR2.0_MUF2.0_PDF99208082"][0] == 0.11098e8  # the 2nd value, the 2nd id
    assert chunk.weights["MUR1.0_MUF1.0_PDF99208083"][0] == 0.11218e8  # the 8th


def test_header_without_init_processes_is_read_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="motherlode.lhe.lhefile"):
        header = read_lhe_header(DATA / "pylhe-testfile-pr29.lhe.gz")
    assert header.processes == () and header.total_xsec == 0.0 and header.total_xsec_error == 0.0
    assert "NPRUP=8" in caplog.text


def test_total_cross_section_error_adds_in_quadrature():
    header = read_lhe_header(DATA / "pylhe-testfile-pythia-6.413-ttbar.lhe.gz")
    errors = [p.xsec_error for p in header.processes]
    assert len(errors) == 2
    assert header.total_xsec_error == pytest.approx(np.hypot(*errors), rel=1e-15)


# ----------------------------------------------------------------------------------------------
# Variants that must be read the same, and malformed files
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_text() -> str:
    """The header and first 20 events of the Drell-Yan file, as text."""
    text = gzip.decompress(MZ.read_bytes()).decode()
    end = 0
    for _ in range(20):
        end = text.index("</event>", end) + len("</event>\n")
    return text[:end] + "</LesHouchesEvents>\n"


def write(tmp_path: Path, text: str, name: str = "case.lhe") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the ``occurrence``-th line containing ``needle``."""
    hits = [number for number, line in enumerate(text.split("\n"), start=1) if needle in line]
    return hits[occurrence - 1]


def particle_lines(text: str) -> list[int]:
    """0-based indices of the particle lines (13 numbers after an event-information line)."""
    lines = text.split("\n")
    return [
        i for i, line in enumerate(lines) if len(line.split()) == 13 and re.match(r"\s+-?\d+ +-?\d", line)
    ]


def test_small_file_agrees_with_the_whole_one(tmp_path, small_text):
    small = read_all(write(tmp_path, small_text))
    whole = read_all(MZ)
    for name in [*EVENT_FIELDS, *PARTICLE_FIELDS]:
        size = small[name].size
        np.testing.assert_array_equal(small[name], whole[name][:size])


@pytest.mark.parametrize(
    "variant",
    [
        "crlf",
        "fortran_exponents",
        "comments_between_particles",
        "event_attributes",
        "double_quotes_no_spaces",
        "wgt_order",
        "one_line_rwgt",
        "tabs",
    ],
)
def test_variants_give_the_same_events(tmp_path, small_text, variant):
    expected = read_all(write(tmp_path, small_text, "reference.lhe"))
    lines = small_text.split("\n")
    if variant == "crlf":
        text = small_text.replace("\n", "\r\n")
    elif variant == "fortran_exponents":
        text = re.sub(r"(\d)e([+-]\d\d)", r"\1D\2", small_text)
        assert "D+" in text
    elif variant == "comments_between_particles":
        for index in reversed(particle_lines(small_text)[1::4]):
            lines.insert(index, "# a comment line with 1 2 3 numbers")
        text = "\n".join(lines)
    elif variant == "event_attributes":
        text = small_text.replace("<event>", "<event id='1' npLO=' -1 ' >")
    elif variant == "double_quotes_no_spaces":
        text = re.sub(r"<wgt id='(\w+)'> (\S+) </wgt>", r'<wgt  id="\1">\2</wgt>', small_text, count=7)
    elif variant == "wgt_order":  # the weights of the second event in another order
        first = line_of(small_text, "<wgt id='mz95'>", 2) - 1
        lines[first], lines[first + 2] = lines[first + 2], lines[first]
        text = "\n".join(lines)
    elif variant == "one_line_rwgt":
        text = re.sub(r"<rwgt>\n(.*?)</rwgt>", lambda m: "<rwgt>" + m.group(1).replace("\n", "") + "</rwgt>",
                      small_text, flags=re.S)  # fmt: skip
        assert "<rwgt><wgt" in text
    else:
        text = "\n".join(line.replace(" ", "\t", 3) if line[:1] == " " else line for line in lines)
    ours = read_all(write(tmp_path, text))
    expected["event_line"] = ours["event_line"]  # the line numbers may move
    assert_same_events(ours, expected)


def test_missing_optional_particle_columns_are_filled(tmp_path, small_text, caplog):
    lines = small_text.split("\n")
    index = particle_lines(small_text)[5]
    lines[index] = lines[index].rsplit(maxsplit=2)[0]  # no VTIMUP, SPINUP
    lines[index + 1] = lines[index + 1].rsplit(maxsplit=1)[0]  # no SPINUP
    with caplog.at_level(logging.WARNING, logger="motherlode.lhe.lhefile"):
        ours = read_all(write(tmp_path, "\n".join(lines)))
    expected = read_all(write(tmp_path, small_text, "reference.lhe"))
    assert ours["lifetime"][5] == 0.0 and ours["spin"][5] == 9.0 and ours["spin"][6] == 9.0
    assert ours["lifetime"][6] == expected["lifetime"][6]
    for name in PARTICLE_FIELDS:
        keep = np.ones(ours[name].size, dtype=bool)
        if name in ("lifetime", "spin"):
            keep[[5, 6]] = False
        np.testing.assert_array_equal(ours[name][keep], expected[name][keep])
    assert f"from line {index + 1} on" in caplog.text


def corrupt(text: str, case: str) -> tuple[str, int, str]:
    """A corrupted copy of ``text``, the line the error must name, and a piece of its message."""
    lines = text.split("\n")
    third_event = line_of(text, "<event>", 3)
    info = third_event + 1  # the event-information line of the third event
    first_particle = info + 1
    if case == "truncated_in_event":
        cut = first_particle + 1
        return "\n".join(lines[:cut]) + "\n", cut, f"the event starting at line {third_event} has no </event>"
    if case == "truncated_after_event":
        end = line_of(text, "</event>", 3)
        return "\n".join(lines[:end]) + "\n", end, "without </LesHouchesEvents>"
    if case == "missing_particle_line":
        del lines[first_particle - 1]
        return "\n".join(lines), info, "NUP=4 particles but has 3 particle lines"
    if case == "extra_particle_line":
        lines.insert(first_particle, lines[first_particle - 1])
        return "\n".join(lines), info, "NUP=4 particles but has 5 particle lines"
    if case == "non_numeric_px":
        fields = lines[first_particle].split()
        lines[first_particle] = lines[first_particle].replace(fields[6], "x1.0", 1)
        return "\n".join(lines), first_particle + 1, "cannot read 'x1.0' as a number (PUP(1))"
    if case == "non_numeric_weight":
        lines[info - 1] = lines[info - 1].replace("+8.4289000e+02", "8.4289000e+02.5")
        return "\n".join(lines), info, "cannot read '8.4289000e+02.5' as a number (XWGTUP)"
    if case == "non_integer_pdg_id":
        lines[first_particle] = re.sub(r"^(\s+)(-?\d+) ", r"\g<1>11.5 ", lines[first_particle])
        return "\n".join(lines), first_particle + 1, "expected an integer IDUP, found 11.5"
    if case == "too_few_particle_columns":
        lines[first_particle] = lines[first_particle].rsplit(maxsplit=3)[0]
        return "\n".join(lines), first_particle + 1, "expected 13 numbers"
    if case == "too_many_particle_columns":
        lines[first_particle] += " 1.0"
        return "\n".join(lines), first_particle + 1, "found 14"
    if case == "short_event_information":
        lines[info - 1] = " ".join(lines[info - 1].split()[:5])
        return "\n".join(lines), info, "expected 6 numbers NUP IDPRUP XWGTUP"
    if case == "missing_wgt":
        line = line_of(text, "<wgt id='mz100'>", 3)
        del lines[line - 1]
        return "\n".join(lines), third_event, "missing ['mz100']"
    if case == "unknown_wgt":
        line = line_of(text, "<wgt id='mz100'>", 3)
        lines[line - 1] = lines[line - 1].replace("mz100", "mz200")
        return "\n".join(lines), line, "weight 'mz200' is not among the weights"
    if case == "bad_wgt_value":
        line = line_of(text, "<wgt id='aew130'>", 3)
        lines[line - 1] = "<wgt id='aew130'> 1.0 2.0 </wgt>"
        return "\n".join(lines), line, "expected one number as the value of <wgt>"
    if case == "unclosed_event":
        end = line_of(text, "</event>", 3)
        del lines[end - 1]
        return (
            "\n".join(lines),
            line_of(text, "<event>", 4) - 1,
            f"inside the event starting at line {third_event}",
        )
    if case == "stray_end_of_event":
        lines.insert(third_event - 1, "</event>")
        return "\n".join(lines), third_event, "</event> without an opening <event>"
    if case == "missing_init":
        start, end = line_of(text, "<init>"), line_of(text, "</init>")
        del lines[start - 1 : end]
        return (
            "\n".join(lines),
            line_of(text, "<event>") - (end - start + 1),
            "<event> before the <init> block",
        )
    if case == "bad_init_number":
        line = line_of(text, "<init>") + 1
        lines[line - 1] = lines[line - 1].replace("6.500000e+03", "6.5ee+03", 1)
        return "\n".join(lines), line, "cannot read '6.5ee+03' as a number (<init> beam line"
    if case == "unterminated_init":
        end = line_of(text, "</init>")
        return "\n".join(lines[: end - 1]) + "\n", end - 1, "inside the <init> block opened at line"
    if case == "not_lhe":
        return "hello\nworld\n", 1, "not an LHE file"
    if case == "empty":
        return "", 1, "the file is empty"
    if case == "wgt_without_id":
        line = line_of(text, "<wgt id='mz95'>", 1)
        lines[line - 1] = lines[line - 1].replace("id='mz95'", "name='mz95'")
        return "\n".join(lines), line, "<wgt> without an id attribute"
    if case == "weight_declaration_without_id":
        line = line_of(text, "<weight id='mz100'>")
        lines[line - 1] = lines[line - 1].replace("id='mz100'", "name='mz100'")
        return "\n".join(lines), line, "<weight> in <initrwgt> without an id attribute"
    raise AssertionError(case)


CORRUPTIONS = [
    "truncated_in_event",
    "truncated_after_event",
    "missing_particle_line",
    "extra_particle_line",
    "non_numeric_px",
    "non_numeric_weight",
    "non_integer_pdg_id",
    "too_few_particle_columns",
    "too_many_particle_columns",
    "short_event_information",
    "missing_wgt",
    "unknown_wgt",
    "bad_wgt_value",
    "unclosed_event",
    "stray_end_of_event",
    "missing_init",
    "bad_init_number",
    "unterminated_init",
    "not_lhe",
    "empty",
    "wgt_without_id",
    "weight_declaration_without_id",
]


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case", CORRUPTIONS)
def test_malformed_files_name_file_and_line(tmp_path, small_text, case, compress):
    text, line, message = corrupt(small_text, case)
    data = text.encode()
    path = tmp_path / "broken.lhe"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(FileFormatError) as error:
        read_all(path)
    assert str(error.value).startswith(f"{path}: line {line}: "), str(error.value)
    assert message in str(error.value)
    assert isinstance(error.value, OSError)


def test_truncated_gzip_stream(tmp_path):
    data = MZ.read_bytes()
    path = tmp_path / "cut.lhe.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=rf"{re.escape(str(path))}: line \d+: cannot decompress"):
        read_all(path)


def test_binary_file_is_not_lhe(tmp_path):
    path = tmp_path / "data.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(FileFormatError, match="line 1: not an LHE file"):
        read_lhe_header(path)


def test_weights_block_longer_than_the_declaration(tmp_path, small_text):
    text = small_text.replace("</rwgt>", "</rwgt>\n<weights> 1 2 3 4 </weights>", 1)
    with pytest.raises(FileFormatError, match=r"line 3\d\d: <weights> block with 4 values.*declares only 3"):
        read_all(write(tmp_path, text))


def test_weights_block_in_some_events_only(tmp_path, small_text):
    """Named weights that only some events carry are an error (here: named by the declared ids)."""
    text = re.sub(r"<rwgt>.*?</rwgt>", "<weights> 1 2 3 </weights>", small_text, flags=re.S)
    chunk = next(iter_lhe_events(write(tmp_path, text)))  # every event with the block: fine
    assert list(chunk.weights) == ["mz95", "mz100", "aew130"]
    np.testing.assert_array_equal(chunk.weights["mz100"], np.full(20, 2.0))
    second = text.replace("<weights> 1 2 3 </weights>", "<weights> 1 2 </weights>", 1)  # first event: 2
    line = line_of(second, "<event>", 2)
    with pytest.raises(
        FileFormatError, match=rf"line {line}: .*3 values.*instead of those of the file's first"
    ):
        read_all(write(tmp_path, second, "second.lhe"))


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_lhe_header(tmp_path / "nothing.lhe")


def test_file_without_events(tmp_path, small_text):
    text = small_text[: small_text.index("<event>")] + "</LesHouchesEvents>\n"
    path = write(tmp_path, text)
    assert list(iter_lhe_events(path)) == []
    assert count_lhe_events(path) == 0
    assert read_lhe_header(path).total_xsec == pytest.approx(842.89)


# ----------------------------------------------------------------------------------------------
# Blocks parsed in parallel threads
# ----------------------------------------------------------------------------------------------


def parse_threads() -> list:
    return [thread for thread in threading.enumerate() if thread.name.startswith("motherlode-lhe-parse")]


@pytest.mark.parametrize("block_size", [300, 2048])
@pytest.mark.parametrize("case", CORRUPTIONS)
def test_errors_in_later_blocks_name_file_and_line(monkeypatch, tmp_path, small_text, case, block_size):
    """With small blocks the error is in a later block, parsed while the ones before still are."""
    monkeypatch.setattr(lhefile, "BLOCK_SIZE", block_size)
    text, line, message = corrupt(small_text, case)
    path = write(tmp_path, text, "broken.lhe")
    with pytest.raises(FileFormatError) as error:
        read_all(path)
    assert str(error.value).startswith(f"{path}: line {line}: "), str(error.value)
    assert message in str(error.value)
    assert not parse_threads()


def test_first_error_in_file_order_and_events_before_it(monkeypatch, tmp_path):
    """Of two errors in blocks parsed at the same time, the first in the file is raised."""
    monkeypatch.setattr(lhefile, "BLOCK_SIZE", 8192)
    lines = gzip.decompress(MZ.read_bytes()).decode().split("\n")
    events = [i for i, line in enumerate(lines) if line.startswith("<event")]
    for event in (events[700], events[702]):  # particle lines of two events a few blocks apart
        lines[event + 2] = lines[event + 2].replace(lines[event + 2].split()[6], "x1.0", 1)
    path = write(tmp_path, "\n".join(lines))
    whole = read_all(MZ)
    chunks = []
    with pytest.raises(FileFormatError, match=rf"line {events[700] + 3}: cannot read 'x1.0'"):
        for chunk in iter_lhe_events(path, chunk_size=50):
            chunks.append(chunk)
    assert 0 < sum(chunk.n_events for chunk in chunks) <= 700
    offsets = np.concatenate([[0], np.cumsum(whole["n_particles"])])
    for chunk in chunks:
        stop = chunk.first_event + chunk.n_events
        np.testing.assert_array_equal(chunk.px, whole["px"][offsets[chunk.first_event] : offsets[stop]])
        np.testing.assert_array_equal(chunk.event_line, whole["event_line"][chunk.first_event : stop])
    assert not parse_threads()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_breaking_early_stops_the_threads(monkeypatch, tmp_path, compress):
    """Leaving the loop (or closing the generator) stops the parsing threads and closes the file."""
    monkeypatch.setattr(lhefile, "BLOCK_SIZE", 4096)
    path = tmp_path / "events.lhe"
    data = gzip.decompress(MZ.read_bytes())
    path.write_bytes(gzip.compress(data) if compress else data)
    whole = read_all(MZ)
    first = None
    for chunk in iter_lhe_events(path, chunk_size=7):
        first = chunk
        break
    gc.collect()  # the abandoned generator is closed
    assert not parse_threads()
    assert first is not None and first.pdgid.tolist() == whole["pdgid"][: first.pdgid.size].tolist()
    events = iter_lhe_events(path, chunk_size=7)
    next(events)
    second = next(events)
    events.close()
    assert not parse_threads()
    assert second.first_event == 7
