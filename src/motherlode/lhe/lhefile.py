"""Fast, streaming reader of Les Houches Event (LHE) files.

An LHE file (`hep-ph/0609017 <https://arxiv.org/abs/hep-ph/0609017>`_, LHEF 3.0 in
`1405.1067 <https://arxiv.org/abs/1405.1067>`_) is an XML-like text file: a ``<header>`` with
the generator's cards and the ``<initrwgt>`` declaration of named weights, an ``<init>`` block
with the beams and the processes, then one ``<event>`` block per event, with a line of event
information, one line per particle and optional tags (``<rwgt>``, ``<weights>``, ``<mgrwt>``,
``<scales>``, ``<clustering>``, ``#`` comment lines ...).

This module reads such files, plain or gzip-compressed (recognised by their first bytes, not
by their name), without unpacking them anywhere:

* :func:`read_lhe_header` returns an :class:`LHEHeader` (beams, processes and cross sections,
  declared weights and their groups, the MadGraph run card);
* :func:`iter_lhe_events` yields :class:`LHEEventChunk` objects, columnar NumPy arrays of up to
  ``chunk_size`` consecutive events with their particles flattened in file order and every
  named weight;
* :func:`count_lhe_events` counts the events without parsing them.

The decompressed stream is read in blocks of :data:`BLOCK_SIZE` bytes, and each block is parsed
with NumPy operations on its bytes, with no Python loop per event or particle: lines, tags and
tokens are located with vectorised comparisons, and the numbers of all particle lines are
converted column by column (exactly, with integer arithmetic, for the fixed layouts generators
write; with Python's ``float`` for anything else, so the values are always those of
``float(text)``). Two blocks are parsed at a time in two threads while the calling thread reads
(and decompresses) the next one: NumPy and zlib release the GIL for most of their work. Results
and errors are those of parsing the blocks in file order. Memory is about two chunks (the one
being filled and the one the caller holds) plus some 60 MB for the blocks being read and parsed,
however large the file.

Rules for the less regular parts of the format:

* **Named weights.** ``<rwgt><wgt id="...">value</wgt></rwgt>`` weights are named by their id.
  The values of an LHEF3 ``<weights> v0 v1 ... </weights>`` block are named by the weight ids
  declared in the header's ``<initrwgt>`` in file order (value ``i`` gets the ``i``-th id; a
  block with more values than declared ids is an error; without any declaration the names are
  ``"weights_0"``, ``"weights_1"`` ...). Where an event gives a weight both in ``<rwgt>`` and
  in ``<weights>``, the ``<rwgt>`` value is kept, as pylhe does. All events of a file must carry
  the same named weights; the names are ordered as in the first event (``<rwgt>`` first).
  MadGraph's ``<mgrwt>`` block, WHIZARD's ``<weight name=...>`` per-event tags, ``<scales>``
  and event attributes are not read.
* **Particle lines** have 13 numbers (IDUP ISTUP MOTHUP(2) ICOLUP(2) PUP(5) VTIMUP SPINUP).
  Lines with 11 or 12 numbers are accepted, the missing VTIMUP is 0 and the missing SPINUP 9
  (the standard's value for "unknown"), and a warning is logged once per file. Integer columns
  must hold integral values (``5`` or ``5.0``). Fortran exponents (``0.1D+01``) are accepted.
* **Event lines.** The event-information line is the first line after ``<event ...>`` that is
  neither blank nor a ``#`` comment; the particle lines are the following such lines up to the
  first tag of the event, and there must be exactly NUP of them.
* **Malformed files** raise :class:`~motherlode.errors.FileFormatError`, whose message names the
  file, the 1-based line number and what was expected there. The header is searched with XML
  comments and CDATA sections masked; the events are not XML-parsed, so a tag inside an XML
  comment inside an event would be read.

Examples
--------
>>> import tempfile, pathlib
>>> from motherlode.lhe.lhefile import iter_lhe_events, read_lhe_header
>>> text = '''<LesHouchesEvents version="3.0">
... <header>
... <initrwgt><weightgroup name="scale"><weight id="muR2">muR=2</weight></weightgroup></initrwgt>
... </header>
... <init>
... 2212 2212 6500 6500 0 0 247000 247000 -4 1
... 1.5 0.1 1.5 1
... </init>
... <event>
...  2 1 +1.5e+00 91.2 0.0078 0.118
...  11 1 0 0 0 0 +1.0e+01 +0.0e+00 +5.0e+00 1.1180339887e+01 0.0e+00 0. 9.
... -11 1 0 0 0 0 -1.0e+01 -0.0e+00 -5.0e+00 1.1180339887e+01 0.0e+00 0. 9.
... <rwgt><wgt id='muR2'> 1.25 </wgt></rwgt>
... </event>
... </LesHouchesEvents>
... '''
>>> with tempfile.TemporaryDirectory() as directory:
...     path = pathlib.Path(directory) / "tiny.lhe"
...     _ = path.write_text(text)
...     header = read_lhe_header(path)
...     [chunk] = iter_lhe_events(path)
>>> header.total_xsec, header.weight_ids, header.weight_groups[0].name
(1.5, ('muR2',), 'scale')
>>> chunk.n_events, chunk.pdgid.tolist(), chunk.px.tolist(), chunk.weights["muR2"].tolist()
(1, [11, -11], [10.0, -10.0], [1.25])
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import re
import threading
import zlib
from collections import deque
from collections.abc import Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import BinaryIO, cast
from xml.sax.saxutils import unescape

import numpy as np

from motherlode.errors import FileFormatError, InputError

__all__ = [
    "BLOCK_SIZE",
    "PARTICLE_COLUMNS",
    "LHEEventChunk",
    "LHEHeader",
    "LHEProcessInfo",
    "LHEWeightGroup",
    "LHEWeightInfo",
    "count_lhe_events",
    "iter_lhe_events",
    "read_lhe_header",
]

logger = logging.getLogger(__name__)

BLOCK_SIZE = 2 * 2**20
"""Bytes of the decompressed stream read and parsed at a time (parsing one needs about 12 times
this, and two are parsed at a time)."""

_HEADER_READ_SIZE = 2**16  # the header is read in growing pieces, starting with this many bytes
_CHUNK_PREALLOCATION = 2**17  # events a chunk's arrays are allocated for at first
_MAX_EVENT_BYTES = 256 * 2**20  # a single event larger than this is taken for a malformed file
_PARSE_THREADS = 2  # blocks parsed at a time
_PENDING_BLOCKS = 3  # blocks submitted for parsing at a time (one waits for a thread)

PARTICLE_COLUMNS: tuple[str, ...] = (
    "pdgid",
    "status",
    "mother1",
    "mother2",
    "color1",
    "color2",
    "px",
    "py",
    "pz",
    "energy",
    "mass",
    "lifetime",
    "spin",
)
"""Names of the per-particle arrays of :class:`LHEEventChunk`, in the order of an LHE particle line."""
_INT_PARTICLE_COLUMNS = PARTICLE_COLUMNS[:6]
_LHE_PARTICLE_NAMES = (
    "IDUP",
    "ISTUP",
    "MOTHUP(1)",
    "MOTHUP(2)",
    "ICOLUP(1)",
    "ICOLUP(2)",
    "PUP(1)",
    "PUP(2)",
    "PUP(3)",
    "PUP(4)",
    "PUP(5)",
    "VTIMUP",
    "SPINUP",
)
_EVENT_INFO_COLUMNS = ("n_particles", "process_id", "weight", "scale", "alpha_qed", "alpha_qcd")
_LHE_EVENT_INFO_NAMES = ("NUP", "IDPRUP", "XWGTUP", "SCALUP", "AQEDUP", "AQCDUP")
_DEFAULT_LIFETIME = 0.0
_DEFAULT_SPIN = 9.0


# ----------------------------------------------------------------------------------------------
# Public data classes
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LHEWeightInfo:
    """One named weight declared by a ``<weight id=...>`` tag in the header's ``<initrwgt>``.

    Attributes
    ----------
    id : str
        The weight's id, the name it has in the events.
    group : str or None
        Name of the enclosing ``<weightgroup>`` (its ``name`` attribute, or ``type`` for files
        that use that instead, as MadGraph 2.0 does); None outside any group.
    attributes : Mapping[str, str]
        Every other XML attribute as written, e.g. ``MUR``, ``MUF``, ``PDF``, ``DYN_SCALE``.
    text : str
        The stripped text content, e.g. ``"set param_card mass 23 95.0"``.
    """

    id: str
    group: str | None
    attributes: Mapping[str, str]
    text: str


@dataclass(frozen=True)
class LHEWeightGroup:
    """A ``<weightgroup>`` of the header's ``<initrwgt>`` with its weights, in file order.

    Weights declared outside any group form groups with ``name`` None (one per consecutive
    run of such weights, so that the order of all weights is kept).

    Attributes
    ----------
    name : str or None
        The ``name`` attribute (or ``type``, see :class:`LHEWeightInfo`).
    attributes : Mapping[str, str]
        All other attributes, e.g. ``combine``.
    weights : tuple of LHEWeightInfo
        The weights of the group.
    """

    name: str | None
    attributes: Mapping[str, str]
    weights: tuple[LHEWeightInfo, ...]


@dataclass(frozen=True)
class LHEProcessInfo:
    """One process line of the ``<init>`` block (XSECUP XERRUP XMAXUP LPRUP).

    Attributes
    ----------
    process_id : int
        LPRUP, the id the events of the process carry as IDPRUP.
    xsec, xsec_error : float
        Cross section and its uncertainty in pb.
    max_weight : float
        XMAXUP, the largest event weight.
    """

    process_id: int
    xsec: float
    xsec_error: float
    max_weight: float


@dataclass(frozen=True)
class LHEHeader:
    """Everything before the first event of an LHE file that motherlode uses.

    Attributes
    ----------
    path : str
        The file.
    version : str or None
        The ``version`` attribute of ``<LesHouchesEvents>``.
    beam_pdg_ids, beam_energies : tuple
        IDBMUP and EBMUP (GeV) of the two beams.
    pdf_groups, pdf_sets : tuple of int
        PDFGUP and PDFSUP.
    weighting_strategy : int
        IDWTUP.
    processes : tuple of LHEProcessInfo
        The process lines of ``<init>``.
    weight_groups : tuple of LHEWeightGroup
        The ``<initrwgt>`` declarations of the header.
    run_card : Mapping[str, str]
        MadGraph's run card (``<MGRunCard>``), ``value = name ! comment`` lines as
        ``{name: value}``; empty if the file has none.
    generators : tuple of str
        Names of the ``<generator>`` tags of header and ``<init>`` (their text where they have
        no ``name`` attribute).
    """

    path: str
    version: str | None
    beam_pdg_ids: tuple[int, int]
    beam_energies: tuple[float, float]
    pdf_groups: tuple[int, int]
    pdf_sets: tuple[int, int]
    weighting_strategy: int
    processes: tuple[LHEProcessInfo, ...]
    weight_groups: tuple[LHEWeightGroup, ...]
    run_card: Mapping[str, str]
    generators: tuple[str, ...]

    @property
    def total_xsec(self) -> float:
        """Sum of the cross sections of all processes in pb."""
        return float(sum(process.xsec for process in self.processes))

    @property
    def total_xsec_error(self) -> float:
        """Uncertainty of :attr:`total_xsec`: the process uncertainties added in quadrature."""
        return float(np.sqrt(sum(process.xsec_error**2 for process in self.processes)))

    @property
    def weight_ids(self) -> tuple[str, ...]:
        """Ids of all declared weights, in file order."""
        return tuple(weight.id for group in self.weight_groups for weight in group.weights)

    def weight_info(self, id: str) -> LHEWeightInfo:
        """Return the declaration of the weight ``id``.

        Raises
        ------
        KeyError
            If the header declares no weight of that id.
        """
        for group in self.weight_groups:
            for weight in group.weights:
                if weight.id == id:
                    return weight
        raise KeyError(f"no weight with id {id!r} is declared in the <initrwgt> of {self.path}")


@dataclass(frozen=True)
class LHEEventChunk:
    """Columnar content of consecutive events of an LHE file.

    Per-event arrays have length ``n_events``; per-particle arrays have length
    ``n_particles.sum()`` and hold the particles of all events one after the other, in file
    order (the particles of event ``i`` are ``offsets[i]:offsets[i + 1]``).

    Attributes
    ----------
    path : str
        The file.
    first_event : int
        0-based index in the file of the chunk's first event.
    event_line : numpy.ndarray
        1-based line number of each event's ``<event>`` tag.
    n_particles, process_id : numpy.ndarray
        NUP and IDPRUP (int64).
    weight, scale, alpha_qed, alpha_qcd : numpy.ndarray
        XWGTUP, SCALUP, AQEDUP, AQCDUP (float64).
    pdgid, status, mother1, mother2, color1, color2 : numpy.ndarray
        IDUP, ISTUP, MOTHUP, ICOLUP per particle (int64; mothers are 1-based indices within
        the event, 0 for none).
    px, py, pz, energy, mass, lifetime, spin : numpy.ndarray
        PUP, VTIMUP, SPINUP per particle (float64).
    weights : Mapping[str, numpy.ndarray]
        Every named weight (see the module documentation), one float64 value per event.
    """

    path: str
    first_event: int
    event_line: np.ndarray
    n_particles: np.ndarray
    process_id: np.ndarray
    weight: np.ndarray
    scale: np.ndarray
    alpha_qed: np.ndarray
    alpha_qcd: np.ndarray
    pdgid: np.ndarray
    status: np.ndarray
    mother1: np.ndarray
    mother2: np.ndarray
    color1: np.ndarray
    color2: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    energy: np.ndarray
    mass: np.ndarray
    lifetime: np.ndarray
    spin: np.ndarray
    weights: Mapping[str, np.ndarray]

    @property
    def n_events(self) -> int:
        """Number of events in the chunk."""
        return int(self.n_particles.size)

    @property
    def offsets(self) -> np.ndarray:
        """Cumulative particle counts, shape ``(n_events + 1,)``, starting at 0."""
        return _offsets(self.n_particles)


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------


def read_lhe_header(path: str | os.PathLike) -> LHEHeader:
    """Read the header and the ``<init>`` block of an LHE file.

    Parameters
    ----------
    path : str or os.PathLike
        Plain or gzip-compressed LHE file.

    Returns
    -------
    LHEHeader

    Raises
    ------
    FileFormatError
        If the file is empty, not an LHE file, or its header or ``<init>`` block is malformed.
    """
    with _ByteStream(path) as stream:
        return _read_header(stream)[0]


def iter_lhe_events(path: str | os.PathLike, chunk_size: int = 100_000) -> Iterator[LHEEventChunk]:
    """Iterate over the events of an LHE file in chunks of ``chunk_size`` events.

    Parameters
    ----------
    path : str or os.PathLike
        Plain or gzip-compressed LHE file.
    chunk_size : int
        Number of events per chunk (the last one may have fewer). Memory use is about two
        chunks (about 0.6 kB per event with four particles and a few weights) plus the parsing
        of two blocks of :data:`BLOCK_SIZE` bytes, however large the file.

    Yields
    ------
    LHEEventChunk
        Consecutive events; a file without events yields nothing.

    Raises
    ------
    FileFormatError
        If the file is malformed, truncated, or its events do not all carry the same named
        weights. Chunks before the offending event may have been yielded by then.
    InputError
        If ``chunk_size`` is not a positive integer.
    """
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    chunk_size = int(chunk_size)
    with _ByteStream(path) as stream:
        header, rest, first_line = _read_header(stream)
        parser = _BlockParser(header)
        builder = _ChunkBuilder(header.path, 0, chunk_size)
        blocks = _iter_blocks(stream, parser, rest, first_line)
        try:
            for block in blocks:
                offsets = _offsets(block["n_particles"])
                start, n_events = 0, block["n_particles"].size
                while start < n_events:
                    stop = min(n_events, start + chunk_size - builder.n_events)
                    builder.add(block, offsets, start, stop)
                    start = stop
                    if builder.n_events == chunk_size:
                        chunk = builder.build()
                        builder = _ChunkBuilder(header.path, chunk.first_event + chunk_size, chunk_size)
                        yield chunk
                        del chunk
        finally:
            blocks.close()  # stops the reading thread before the file is closed
        if builder.n_events:
            yield builder.build()


def count_lhe_events(path: str | os.PathLike) -> int:
    """Count the ``<event>`` tags of an LHE file without parsing the events.

    Tags before the end of ``<init>`` and after ``</LesHouchesEvents>`` are not counted. A
    truncated file is not an error here: the tags found are counted.

    Parameters
    ----------
    path : str or os.PathLike
        Plain or gzip-compressed LHE file.

    Returns
    -------
    int
    """
    with _ByteStream(path) as stream:
        _, text, _ = _read_header(stream)
        count = 0
        while True:
            end = _ROOT_END.search(text)
            if end is not None:
                return count + len(_EVENT_OPEN.findall(text, 0, end.start()))
            more = stream.read(BLOCK_SIZE)
            if not more:
                return count + len(_EVENT_OPEN.findall(text))
            # a tag cut by the block boundary starts with the last '<' of the text's end; no match
            # that starts before that '<' can reach it, as '<' occurs only first in a match
            cut = text.rfind(b"<", max(0, len(text) - 24))
            cut = len(text) if cut < 0 else cut
            count += len(_EVENT_OPEN.findall(text, 0, cut))
            text = text[cut:] + more


# ----------------------------------------------------------------------------------------------
# Byte stream
# ----------------------------------------------------------------------------------------------


class _ByteStream:
    """The decompressed bytes of a plain or gzip file, read block by block; counts lines for errors."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        if isinstance(self.path, bytes):
            self.path = os.fsdecode(self.path)
        self._raw: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        magic = self._raw.read(2)
        self._raw.seek(0)
        self.compressed = magic == b"\x1f\x8b"
        self._file: gzip.GzipFile | BinaryIO = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if self.compressed else self._raw
        )
        self.lines_read = 0  # newlines in all bytes returned so far

    def read(self, size: int) -> bytes:
        try:
            data = self._file.read(size)
        except (EOFError, OSError, zlib.error) as error:
            what = "decompress" if self.compressed else "read"
            raise FileFormatError(
                f"{self.path}: line {self.lines_read + 1}: cannot {what} the file after this line "
                f"({'truncated or corrupt gzip stream: ' if self.compressed else ''}{error})"
            ) from error
        self.lines_read += int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))  # frees the GIL
        return data

    def close(self) -> None:
        if self._file is not self._raw:
            self._file.close()
        self._raw.close()

    def __enter__(self) -> _ByteStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _error(path: str, line: int, message: str) -> FileFormatError:
    return FileFormatError(f"{path}: line {line}: {message}")


# ----------------------------------------------------------------------------------------------
# Header and <init>
# ----------------------------------------------------------------------------------------------

_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_CDATA = re.compile(rb"<!\[CDATA\[.*?\]\]>", re.S)
_ROOT_START = re.compile(rb"<LesHouchesEvents\b([^>]*)>")
_INIT_START = re.compile(rb"<init\b[^>]*>")
_INIT_END = re.compile(rb"</init\s*>")
_EVENT_OPEN = re.compile(rb"<event[\s>/]")
_ROOT_END = re.compile(rb"</LesHouchesEvents\s*>")
_INITRWGT = re.compile(rb"<initrwgt\b[^>]*>(.*?)</initrwgt\s*>", re.S)
_RUN_CARD = re.compile(rb"<MGRunCard\b[^>]*>(.*?)</MGRunCard\s*>", re.S)
_GENERATOR = re.compile(rb"<generator\b([^>]*)>(.*?)</generator\s*>", re.S)
_WEIGHT_TAG = re.compile(r"<(/?)(weightgroup|weight)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)(/?)>", re.S)
_ATTRIBUTE = re.compile(r"([^\s=/>\"']+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')", re.S)
_XML_ENTITIES = {"&quot;": '"', "&apos;": "'"}
_FORTRAN_EXPONENT = bytes.maketrans(b"dD", b"eE")


def _masked(data: bytes) -> bytes:
    """``data`` with XML comments and CDATA sections blanked out (same length and lines)."""

    def blank(match: re.Match) -> bytes:
        return re.sub(rb"[^\n]", b" ", match.group())

    return _CDATA.sub(blank, _COMMENT.sub(blank, data))


def _line_at(data: bytes, position: int, first_line: int = 1) -> int:
    return first_line + data.count(b"\n", 0, position)


def _attributes(text: str) -> dict[str, str]:
    return {
        match.group(1): unescape(
            match.group(2) if match.group(2) is not None else match.group(3), _XML_ENTITIES
        )
        for match in _ATTRIBUTE.finditer(text)
    }


def _read_header(stream: _ByteStream) -> tuple[LHEHeader, bytes, int]:
    """Parse everything up to ``</init>``; return the header, the bytes after it and their first line."""
    path = stream.path
    data = stream.read(_HEADER_READ_SIZE)
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
        data = b"   " + data[3:]
    if not data.strip():
        raise _error(path, 1, "the file is empty; expected an LHE file starting with <LesHouchesEvents>")
    masked = _masked(data)
    root = _ROOT_START.search(masked)
    first_tag = re.search(rb"\S", re.sub(rb"<\?xml[^>]*\?>", lambda m: b" " * len(m.group()), masked))
    if root is None or first_tag is None or first_tag.start() != root.start():
        position = first_tag.start() if first_tag is not None else 0
        found = data[position : position + 40].split(b"\n")[0].decode("utf-8", "replace")
        raise _error(
            path,
            _line_at(data, position),
            f"not an LHE file: expected the root tag <LesHouchesEvents>, found {found!r}",
        )
    while True:
        init_start = _INIT_START.search(masked)
        init_end = _INIT_END.search(masked, init_start.end()) if init_start is not None else None
        event = _EVENT_OPEN.search(masked)
        if event is not None and (init_start is None or event.start() < init_start.start()):
            raise _error(
                path, _line_at(data, event.start()), "<event> before the <init> block; expected <init> first"
            )
        if init_end is not None and init_start is not None:
            break
        more = stream.read(max(_HEADER_READ_SIZE, len(data)))  # doubles: linear in the header's size
        if not more:
            if init_start is None:
                message = "end of file without an <init> block (expected after the header)"
            else:
                opened = _line_at(data, init_start.start())
                message = f"end of file inside the <init> block opened at line {opened}; expected </init>"
            raise _error(path, _line_at(data, len(data.rstrip())), message)
        data += more
        masked = _masked(data)
    version_match = re.search(rb"\bversion\s*=\s*[\"']([^\"']*)[\"']", root.group(1))
    version = version_match.group(1).decode("utf-8", "replace") if version_match else None
    header_part = data[: init_start.start()]
    masked_header = masked[: init_start.start()]
    init_body_start = init_start.end()
    beam, processes = _parse_init(
        path, data[init_body_start : init_end.start()], _line_at(data, init_body_start)
    )
    groups: list[LHEWeightGroup] = []
    for match in _INITRWGT.finditer(masked_header):
        body = data[match.start(1) : match.end(1)].decode("utf-8", "replace")
        groups.extend(_parse_initrwgt(path, body, _line_at(data, match.start(1))))
    run_card: dict[str, str] = {}
    card = _RUN_CARD.search(masked_header)  # its content is usually CDATA: read it unmasked
    if card is not None:
        run_card = _parse_run_card(header_part[card.start(1) : card.end(1)].decode("utf-8", "replace"))
    generators = []
    for match in _GENERATOR.finditer(masked[: init_end.start()]):
        attributes = _attributes(data[match.start(1) : match.end(1)].decode("utf-8", "replace"))
        text = data[match.start(2) : match.end(2)].decode("utf-8", "replace").strip()
        generators.append(attributes.get("name") or text)
    header = LHEHeader(
        path=path,
        version=version,
        beam_pdg_ids=(int(beam[0]), int(beam[1])),
        beam_energies=(float(beam[2]), float(beam[3])),
        pdf_groups=(int(beam[4]), int(beam[5])),
        pdf_sets=(int(beam[6]), int(beam[7])),
        weighting_strategy=int(beam[8]),
        processes=tuple(processes),
        weight_groups=tuple(groups),
        run_card=MappingProxyType(run_card),
        generators=tuple(generators),
    )
    end_position = init_end.end()
    return header, data[end_position:], _line_at(data, end_position)


def _numbers(path: str, line: int, text: str, what: str, integer: Sequence[bool]) -> list[float]:
    tokens = text.split()
    if len(tokens) < len(integer):
        raise _error(
            path, line, f"expected {len(integer)} numbers ({what}), found {len(tokens)}: {text.strip()!r}"
        )
    values = []
    for token, is_integer in zip(tokens, integer, strict=False):  # extra tokens are ignored
        try:
            value = float(token.translate({ord("d"): "e", ord("D"): "E"}))
        except ValueError:
            raise _error(path, line, f"cannot read {token!r} as a number ({what})") from None
        if is_integer and not value.is_integer():
            raise _error(path, line, f"expected an integer, found {token!r} ({what})")
        values.append(int(value) if is_integer else value)
    return values


def _parse_init(path: str, body: bytes, first_line: int) -> tuple[list[float], list[LHEProcessInfo]]:
    """The numbers of the ``<init>`` block: the beam line and the process lines before any tag."""
    lines = []
    for offset, raw in enumerate(body.decode("utf-8", "replace").split("\n")):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("<"):
            break
        lines.append((first_line + offset, stripped))
    if not lines:
        raise _error(
            path, first_line, "empty <init> block; expected the beam line IDBMUP(2) EBMUP(2) ... NPRUP"
        )
    line, text = lines[0]
    beam = _numbers(
        path,
        line,
        text,
        "<init> beam line: IDBMUP(2) EBMUP(2) PDFGUP(2) PDFSUP(2) IDWTUP NPRUP",
        (True, True, False, False, True, True, True, True, True, True),
    )
    n_processes = beam[9]
    processes = []
    for line, text in lines[1:]:
        xsec, error, max_weight, process_id = _numbers(
            path, line, text, "<init> process line: XSECUP XERRUP XMAXUP LPRUP", (False, False, False, True)
        )
        processes.append(LHEProcessInfo(int(process_id), xsec, error, max_weight))
    if len(processes) != n_processes:
        logger.warning(
            "%s: the <init> block declares NPRUP=%d processes but has %d process lines; using the lines",
            path,
            n_processes,
            len(processes),
        )
    return beam, processes


def _parse_initrwgt(path: str, body: str, first_line: int) -> list[LHEWeightGroup]:
    """The weight groups of one ``<initrwgt>`` body."""
    groups: list[LHEWeightGroup] = []
    current: tuple[str | None, dict[str, str], list[LHEWeightInfo]] | None = None  # open <weightgroup>
    loose: list[LHEWeightInfo] = []  # consecutive weights outside any group

    def flush_loose() -> None:
        if loose:
            groups.append(LHEWeightGroup(None, MappingProxyType({}), tuple(loose)))
            loose.clear()

    position = 0
    while True:
        match = _WEIGHT_TAG.search(body, position)
        if match is None:
            break
        closing, tag, attribute_text, self_closing = match.groups()
        position = match.end()
        line = first_line + body.count("\n", 0, match.start())
        if tag == "weightgroup":
            if closing:
                if current is not None:
                    groups.append(LHEWeightGroup(current[0], MappingProxyType(current[1]), tuple(current[2])))
                current = None
                continue
            flush_loose()
            if current is not None:  # an unclosed group ends where the next one starts
                groups.append(LHEWeightGroup(current[0], MappingProxyType(current[1]), tuple(current[2])))
            attributes = _attributes(attribute_text)
            name = attributes.pop("name", None)
            if name is None:
                name = attributes.get("type")
            current = (name, attributes, [])
            if self_closing:
                groups.append(LHEWeightGroup(name, MappingProxyType(attributes), ()))
                current = None
            continue
        if closing:  # a stray </weight>
            continue
        attributes = _attributes(attribute_text)
        if "id" not in attributes:
            raise _error(
                path, line, "<weight> in <initrwgt> without an id attribute; expected <weight id=...>"
            )
        text = ""
        if not self_closing:
            end = body.find("</weight", position)
            if end < 0:
                raise _error(path, line, f"<weight id={attributes['id']!r}> without </weight>")
            text = unescape(body[position:end], _XML_ENTITIES).strip()
            position = end
        weight_id = attributes.pop("id")
        info = LHEWeightInfo(weight_id, current[0] if current else None, MappingProxyType(attributes), text)
        if current is None:
            loose.append(info)
        else:
            current[2].append(info)
    if current is not None:
        groups.append(LHEWeightGroup(current[0], MappingProxyType(current[1]), tuple(current[2])))
    flush_loose()
    return groups


def _parse_run_card(text: str) -> dict[str, str]:
    """MadGraph run-card lines ``value = name ! comment`` as ``{name: value}``."""
    card = {}
    for raw in text.split("\n"):
        line = raw.split("!", 1)[0].strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        value, name = line.rsplit("=", 1)
        value, name = value.strip(), name.strip()
        if name and " " not in name:
            card[name] = value
    return card


# ----------------------------------------------------------------------------------------------
# Numbers
# ----------------------------------------------------------------------------------------------

_MAX_FAST_WIDTH = 24  # longest token converted by the fixed-layout parser; longer ones go to float()
_PAD = 32  # spaces before and after a block: fixed windows of up to _MAX_FAST_WIDTH bytes fit

_ASCII_ZEROS = np.uint64(0x3030303030303030)
_POW10 = 10.0 ** np.arange(23)  # exact doubles
_LAYOUT = re.compile(rb"(0*)(\.(0*))?(([eEdD])(\+?)(0+))?")
_MAX_LAYOUTS = 4  # layouts tried per column before the rest is left to float()


@functools.cache
def _keep_masks(width: int) -> np.ndarray:
    """Row ``p``: little-endian words that keep the bytes of a ``width``-byte row from byte ``p`` on."""
    masks = np.zeros((width + 1, width), dtype=np.uint8)
    for padding in range(width + 1):
        masks[padding, padding:] = 0xFF
    return masks.view("<u8")


def _windows(array: np.ndarray, positions: np.ndarray, width: int) -> np.ndarray:
    """Copies of ``array[p:p + width]`` for each position, as rows of a C-contiguous uint8 array."""
    items = np.ndarray((array.size - width + 1,), dtype=f"V{width}", buffer=array, strides=(1,))
    return items[positions].view(np.uint8).reshape(positions.size, width)  # faster than 2D indexing


def _eight_digits(words: np.ndarray) -> np.ndarray:
    """Value of 8 ASCII decimal digits packed in little-endian uint64 words (SWAR arithmetic)."""
    v = words - _ASCII_ZEROS
    v = (v * np.uint64(10) + (v >> np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v * np.uint64(100) + (v >> np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    return (v * np.uint64(10000) + (v >> np.uint64(32))) & np.uint64(0xFFFFFFFF)


def _digit_run(rows: np.ndarray, start: int, end: int) -> np.ndarray:
    """Value of the ASCII digits ``rows[:, start:end]`` (at most 19) of C-contiguous ``rows``."""
    n, width = rows.shape
    value = np.zeros(n, dtype=np.uint64)
    for word_end in range(end - 8 * ((end - start - 1) // 8), end + 1, 8):
        # eight bytes ending at word_end, read in place from each row (from byte 0 on if word_end < 8);
        # the bytes outside [start, word_end) become '0'
        offset = max(word_end - 8, 0)
        word = np.ndarray((n,), dtype="<u8", buffer=rows, offset=offset, strides=(width,))
        keep = np.zeros(8, dtype=np.uint8)
        keep[max(start - offset, 0) : word_end - offset] = 0xFF
        if not keep.all():
            word = ((word ^ _ASCII_ZEROS) & keep.view("<u8")[0]) ^ _ASCII_ZEROS
        digits = _eight_digits(word)
        if offset + 8 > word_end:  # trailing '0's, as many as the bytes after word_end
            digits //= np.uint64(10 ** (offset + 8 - word_end))
        value = value * np.uint64(100_000_000) + digits
    return value


def _convert_layout(
    rows: np.ndarray, negative: np.ndarray, n_characters: np.ndarray, max_length: int, layout: re.Match
) -> tuple[np.ndarray, np.ndarray]:
    """Convert right-aligned rows of one layout; see :func:`_parse_column`.

    ``n_characters`` is the length of each token without its sign.
    """
    n, width = rows.shape
    int_end = len(layout.group(1))
    n_fraction = len(layout.group(3) or b"")
    mantissa_end = int_end + (1 + n_fraction if layout.group(2) is not None else 0)
    n_int = int_end - (width - max_length)
    if n_int + n_fraction > 19 or (n_fraction == 0 and n_int <= 0):
        return np.zeros(n), np.zeros(n, dtype=bool)
    mantissa = _digit_run(rows, int_end - n_int, int_end) if n_int > 0 else np.zeros(n, dtype=np.uint64)
    if n_fraction:
        fraction = _digit_run(rows, int_end + 1, mantissa_end)
        mantissa = mantissa * np.uint64(10**n_fraction) + fraction
    scale = np.full(n, -n_fraction, dtype=np.int64)
    if layout.group(4) is not None:
        exponent = np.zeros(n, dtype=np.int64)
        for column in range(mantissa_end + 1 + len(layout.group(6)), width):
            exponent = exponent * 10 + (rows[:, column] - np.uint8(ord("0")))
        if layout.group(6):
            exponent = np.where(rows[:, mantissa_end + 1] == ord("-"), -exponent, exponent)
        scale += exponent
    ok = np.abs(scale) <= 22
    if n_fraction == 0:  # at least one digit: a token's integer part is not empty
        ok &= n_characters > width - int_end
    if n_int + n_fraction > 15:
        ok &= mantissa < np.uint64(2**53)
    power = _POW10[np.minimum(np.abs(scale), 22)]
    magnitude = mantissa.astype(np.float64)
    values = np.where(scale >= 0, magnitude * power, magnitude / power)
    return np.where(negative, -values, values), ok


def _parse_column(array: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert number tokens written in a few fixed layouts (as generators write them), exactly.

    Each token is right-aligned in a row of bytes, left-padded and with its sign replaced by
    '0'. Replacing its digits by '0' too gives its "layout" (e.g. ``000.0000000000e+00``):
    tokens of one layout have their decimal point, exponent marker and exponent at the same
    places. Up to :data:`_MAX_LAYOUTS` layouts are tried. For a token of a layout, the decimal
    digits form an integer ``M`` (converted eight digits at a time with integer arithmetic) and,
    where ``M < 2**53`` and the decimal exponent ``k`` has ``|k| <= 22``, ``M * 10**k`` is one
    correctly rounded multiplication or division by an exact power of ten: the correctly
    rounded value, which ``float()`` returns too.

    Returns the values and a mask of the tokens converted; the others are left to ``float()``.
    """
    n = starts.size
    values = np.zeros(n)
    converted = np.zeros(n, dtype=bool)
    lengths = ends - starts
    max_length = int(lengths.max()) if n else 0
    if n == 0 or max_length > _MAX_FAST_WIDTH:
        return values, converted
    width = 8 * ((max_length + 7) // 8)
    rows = _windows(array, ends - width, width)
    words = rows.view("<u8")
    # the sign and the bytes before it become '0' (XOR with '0', keep, XOR again)
    first = array[starts]
    negative = first == ord("-")
    signed = negative | (first == ord("+"))
    n_characters = lengths - signed
    shortest = int(n_characters.min())
    words ^= _ASCII_ZEROS
    if shortest == int(n_characters.max()):  # one length: one mask for all rows
        words &= _keep_masks(width)[width - shortest]
    else:
        words &= _keep_masks(width)[width - n_characters]
    words ^= _ASCII_ZEROS
    digits = rows - np.uint8(ord("0"))
    signature = rows - digits * (digits <= 9).view(np.uint8)  # every digit becomes '0'
    signature -= np.uint8(2) * (signature == ord("-")).view(np.uint8)  # an exponent's '-' becomes '+'
    signature_words = signature.view("<u8")
    remaining = np.arange(n)
    for _ in range(_MAX_LAYOUTS):
        if remaining.size == 0:
            break
        template = signature_words[remaining[0]]
        candidates = signature_words if remaining.size == n else signature_words[remaining]
        difference = candidates[:, 0] ^ template[0]
        for j in range(1, signature_words.shape[1]):
            difference |= candidates[:, j] ^ template[j]
        same = difference == 0
        layout = _LAYOUT.fullmatch(signature[remaining[0]].tobytes())
        if layout is not None:
            if remaining.size == n and same.all():  # the common case: one layout for all tokens
                values, converted = _convert_layout(rows, negative, n_characters, max_length, layout)
                break
            subset = remaining[same]
            subset_values, ok = _convert_layout(
                rows[subset], negative[subset], n_characters[subset], max_length, layout
            )
            values[subset[ok]] = subset_values[ok]
            converted[subset[ok]] = True
        remaining = remaining[~same]
    return values, converted


def _parse_numbers(
    data: bytes,
    array: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    lines: np.ndarray,
    path: str,
    what: str | Sequence[str],
) -> np.ndarray:
    """Convert the tokens ``data[starts[i, j]:ends[i, j]]`` to float64.

    ``starts`` and ``ends`` are ``(n,)`` or ``(n, k)``, ``lines`` the ``(n,)`` line numbers and
    ``what`` the name of the number (of each of the ``k`` columns) for error messages. Tokens the
    fixed-layout parser (:func:`_parse_column`) leaves are converted by ``float()``, which
    raises on anything that is not a number.
    """
    one_column = starts.ndim == 1
    if one_column:
        starts, ends, what = starts[:, None], ends[:, None], [cast(str, what)]  # one name
    n, k = starts.shape
    values = np.empty((k, n))
    if n == 0:
        return values[0] if one_column else values
    # columns whose first tokens have the same layout after the integer part (all integer columns,
    # say) are converted together: fewer, larger steps; columns too wide to convert go apart
    groups: dict[tuple, list[int]] = {}
    lengths = ends - starts
    for column, max_length in enumerate(lengths.max(axis=0).tolist()):
        first = data[starts[0, column] : ends[0, column]].lstrip(b"+-")
        layout = re.sub(rb"[0-9]", b"0", first).replace(b"-", b"+").lstrip(b"0")
        groups.setdefault((layout, max_length > _MAX_FAST_WIDTH), []).append(column)
    for columns in groups.values():
        group_starts, group_ends = starts[:, columns], ends[:, columns]
        group_values, converted = _parse_column(array, group_starts.ravel(), group_ends.ravel())
        group_values = group_values.reshape(n, len(columns))
        for flat_index in np.flatnonzero(~converted):
            i, j = divmod(int(flat_index), len(columns))
            token = data[group_starts[i, j] : group_ends[i, j]]
            try:
                group_values[i, j] = float(token.translate(_FORTRAN_EXPONENT))
            except ValueError:
                raise _error(
                    path,
                    int(lines[i]),
                    f"cannot read {token.decode('utf-8', 'replace')!r} as a number ({what[columns[j]]})",
                ) from None
        values[columns] = group_values.T
    return values[0] if one_column else values


def _as_integers(values: np.ndarray, lines: np.ndarray, path: str, what: str) -> np.ndarray:
    # finite, whole and within int64 (a 30-digit "integer" would wrap around silently)
    bad = np.flatnonzero(~(np.isfinite(values) & (np.trunc(values) == values) & (np.abs(values) < 2.0**63)))
    if bad.size:
        raise _error(path, int(lines[bad[0]]), f"expected an integer {what}, found {float(values[bad[0]])!r}")
    return values.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Events
# ----------------------------------------------------------------------------------------------

_WGT = re.compile(rb"<wgt\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>([^<]*)</wgt\s*>")
_WEIGHTS_BLOCK = re.compile(rb"<weights\b[^>]*>([^<]*)</weights\s*>")
_WGT_START = re.compile(rb"<wgt\b")
_WGT_ID = re.compile(rb"\bid\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


def _first_non_space(array: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Position of the first byte > 32 of each line, or the line's end (its newline) if blank."""
    first = starts.copy()
    active = np.flatnonzero(array[first] <= 32)
    active = active[first[active] < ends[active]]
    while active.size:
        first[active] += 1
        still = array[first[active]] <= 32
        active = active[still & (first[active] < ends[active])]
    return first


def _matches(array: np.ndarray, positions: np.ndarray, text: bytes) -> np.ndarray:
    """Whether ``text`` starts at each of ``positions`` (``array`` padded so no index overflows)."""
    result = array[positions] == text[0]
    candidates = np.flatnonzero(result)
    for offset, byte in enumerate(text[1:], start=1):
        if candidates.size == 0:
            break
        candidates = candidates[array[positions[candidates] + offset] == byte]
    result[:] = False
    result[candidates] = True
    return result


def _tag_ends(array: np.ndarray, positions: np.ndarray, name_length: int) -> np.ndarray:
    """Whether the tag name ending at ``positions + name_length`` ends there (``>``, ``/`` or space)."""
    following = array[positions + name_length]
    return (following == ord(">")) | (following == ord("/")) | (following <= 32)


class _BlockParser:
    """Parses blocks of complete lines of the event part of one file; keeps the per-file state."""

    def __init__(self, header: LHEHeader) -> None:
        self.path = header.path
        self.declared_ids = header.weight_ids
        self.weight_names: list[str] | None = None  # established by the first event
        self.rwgt_ids: list[str] = []  # of the first event, in order
        self.rwgt_tags: list[bytes] = []  # their tags '<wgt id=...>' as written
        self.block_names: frozenset[str] = frozenset()  # names the first event takes from <weights>
        self.warned_columns = False
        self.warned_dropped = False
        self._block = threading.local()  # the block each thread parses: its line ends and first line

    # -- lines and events ----------------------------------------------------------------------

    def _line_of(self, positions: np.ndarray | int) -> np.ndarray:
        """1-based line numbers of byte positions of the block being parsed (by this thread)."""
        block = self._block
        return block.first_line + np.searchsorted(block.line_ends, positions)

    def parse(self, padded: bytes, first_line: int, final: bool) -> tuple[dict | None, int, int, bool]:
        """Parse the complete events in ``padded``: whole lines (ending with a newline) between
        :data:`_PAD` spaces.

        Returns the block's columns (None if it has no complete event), the number of bytes
        (after the leading spaces) and lines consumed, and whether ``</LesHouchesEvents>`` was
        reached.
        """
        path = self.path
        array = np.frombuffer(padded, dtype=np.uint8)
        line_ends = np.flatnonzero(array == 10)
        line_starts = np.empty_like(line_ends)
        line_starts[0] = _PAD
        line_starts[1:] = line_ends[:-1] + 1
        self._block.line_ends, self._block.first_line = line_ends, first_line
        first = _first_non_space(array, line_starts, line_ends)
        first_byte = array[first]
        tag_lines = np.flatnonzero(first_byte == ord("<"))
        tag_positions = first[tag_lines]
        slash = array[tag_positions + 1] == ord("/")
        opens = tag_lines[_matches(array, tag_positions + 1, b"event") & _tag_ends(array, tag_positions, 6)]
        closes = tag_lines[
            slash & _matches(array, tag_positions + 2, b"event") & _tag_ends(array, tag_positions, 7)
        ]
        roots = tag_lines[slash & _matches(array, tag_positions + 2, b"LesHouchesEvents")]
        finished = roots.size > 0
        if finished:
            stop = roots[0]
            opens, closes = opens[opens < stop], closes[closes < stop]
        n_lines = line_ends.size
        if closes.size:
            last_close = int(closes[-1])
            complete_opens = opens[opens < last_close]
        else:
            last_close = -1
            complete_opens = opens[:0]
        self._check_nesting(complete_opens, closes, first_line)
        consumed_lines = n_lines if finished else last_close + 1
        consumed_bytes = int(line_ends[consumed_lines - 1]) + 1 - _PAD if consumed_lines else 0
        columns = None
        if complete_opens.size:
            columns = self._parse_events(
                padded,
                array,
                line_starts,
                line_ends,
                first,
                first_byte,
                tag_lines,
                complete_opens,
                closes,
                first_line,
            )
        if final or finished:  # after the complete events, whose errors come first in the file
            pending = opens[opens > last_close]
            if pending.size:
                end_line = first_line + (int(roots[0]) if finished else n_lines - 1)
                raise _error(
                    path,
                    end_line,
                    f"the event starting at line {first_line + int(pending[0])} has no </event> "
                    + ("before </LesHouchesEvents>" if finished else "(file truncated?)"),
                )
            if not finished:
                raise _error(
                    path,
                    first_line + max(n_lines - 1, 0),
                    "end of file without </LesHouchesEvents> (file truncated?)",
                )
        return columns, consumed_bytes, consumed_lines, finished

    def _check_nesting(self, opens: np.ndarray, closes: np.ndarray, first_line: int) -> None:
        n = opens.size
        if (
            closes.size == n
            and (n == 0 or bool((opens < closes).all()))
            and (n < 2 or bool((closes[:-1] < opens[1:]).all()))
        ):
            return
        markers = sorted([(int(line), 1) for line in opens] + [(int(line), -1) for line in closes])
        open_line = None
        for line, kind in markers:
            if kind == 1:
                if open_line is not None:
                    raise _error(
                        self.path,
                        first_line + line,
                        f"<event> inside the event starting at line {first_line + open_line}; "
                        "expected </event> first",
                    )
                open_line = line
            else:
                if open_line is None:
                    raise _error(self.path, first_line + line, "</event> without an opening <event>")
                open_line = None

    def _parse_events(
        self,
        data: bytes,
        array: np.ndarray,
        line_starts: np.ndarray,
        line_ends: np.ndarray,
        first: np.ndarray,
        first_byte: np.ndarray,
        tag_lines: np.ndarray,
        opens: np.ndarray,
        closes: np.ndarray,
        first_line: int,
    ) -> dict:
        path = self.path
        n_events = opens.size
        closes = closes[:n_events]
        # the event-information and particle lines: data lines before the event's first tag
        is_data = (first_byte != ord("<")) & (first_byte != ord("#")) & (first < line_ends)
        data_lines = np.flatnonzero(is_data)
        first_tag = tag_lines[np.searchsorted(tag_lines, opens, side="right")]
        low = np.searchsorted(data_lines, opens, side="right")
        high = np.searchsorted(data_lines, first_tag, side="left")
        n_lines = high - low
        if (n_lines == 0).any():
            bad = int(opens[np.argmax(n_lines == 0)])
            raise _error(
                path,
                first_line + bad,
                "event without an event-information line; expected NUP IDPRUP XWGTUP SCALUP AQEDUP AQCDUP",
            )
        info_lines = data_lines[low]
        counts = n_lines - 1
        n_particles = int(counts.sum())
        relative = np.arange(n_particles) - np.repeat(np.cumsum(counts) - counts, counts)
        particle_lines = data_lines[np.repeat(low + 1, counts) + relative]

        # tokens of the whole block: runs of bytes > 32; the padding makes starts and ends alternate
        separator = array <= 32
        changes = np.flatnonzero(separator[1:] != separator[:-1])
        token_starts, token_ends = changes[0::2] + 1, changes[1::2] + 1

        # event-information lines
        info_first = np.searchsorted(token_starts, line_starts[info_lines])
        info_count = np.searchsorted(token_starts, line_ends[info_lines]) - info_first
        info_line_numbers = first_line + info_lines
        if (info_count != 6).any():
            bad = int(np.argmax(info_count != 6))
            raise _error(
                path,
                int(info_line_numbers[bad]),
                f"expected 6 numbers NUP IDPRUP XWGTUP SCALUP AQEDUP AQCDUP on the event-information line, "
                f"found {int(info_count[bad])}",
            )
        columns: dict = {"event_line": first_line + opens}
        tokens = info_first[:, None] + np.arange(6)
        table = _parse_numbers(
            data,
            array,
            token_starts[tokens],
            token_ends[tokens],
            info_line_numbers,
            path,
            _LHE_EVENT_INFO_NAMES,
        )
        for index, (name, lhe_name) in enumerate(
            zip(_EVENT_INFO_COLUMNS, _LHE_EVENT_INFO_NAMES, strict=True)
        ):
            columns[name] = (
                _as_integers(table[index], info_line_numbers, path, lhe_name) if index < 2 else table[index]
            )
        wrong = np.flatnonzero(columns["n_particles"] != counts)
        if wrong.size:
            i = int(wrong[0])
            raise _error(
                path,
                int(info_line_numbers[i]),
                f"the event declares NUP={int(columns['n_particles'][i])} particles but has {int(counts[i])} "
                f"particle lines before its first tag or </event> (line {first_line + int(first_tag[i])})",
            )

        # particle lines
        particle_first = np.searchsorted(token_starts, line_starts[particle_lines])
        particle_count = np.searchsorted(token_starts, line_ends[particle_lines]) - particle_first
        particle_line_numbers = first_line + particle_lines
        if (particle_count != 13).any():
            bad_lines = np.flatnonzero((particle_count < 11) | (particle_count > 13))
            if bad_lines.size:
                i = int(bad_lines[0])
                raise _error(
                    path,
                    int(particle_line_numbers[i]),
                    f"expected 13 numbers IDUP ISTUP MOTHUP(2) ICOLUP(2) PUP(5) VTIMUP SPINUP on a particle "
                    f"line (11 or 12 accepted), found {int(particle_count[i])}",
                )
            if not self.warned_columns:
                logger.warning(
                    "%s: particle lines with 11 or 12 numbers from line %d on; missing VTIMUP set to %g "
                    "and SPINUP to %g",
                    path,
                    int(particle_line_numbers[np.argmax(particle_count != 13)]),
                    _DEFAULT_LIFETIME,
                    _DEFAULT_SPIN,
                )
                self.warned_columns = True
        if (particle_count == 13).all():
            tokens = particle_first[:, None] + np.arange(13)
            table = _parse_numbers(
                data,
                array,
                token_starts[tokens],
                token_ends[tokens],
                particle_line_numbers,
                path,
                _LHE_PARTICLE_NAMES,
            )
        else:
            table = np.empty((13, n_particles))
            table[11], table[12] = _DEFAULT_LIFETIME, _DEFAULT_SPIN
            for count in (11, 12, 13):
                lines = np.flatnonzero(particle_count == count)
                tokens = particle_first[lines, None] + np.arange(count)
                table[:count, lines] = _parse_numbers(
                    data,
                    array,
                    token_starts[tokens],
                    token_ends[tokens],
                    particle_line_numbers[lines],
                    path,
                    _LHE_PARTICLE_NAMES[:count],
                )
        for index, (name, lhe_name) in enumerate(zip(PARTICLE_COLUMNS, _LHE_PARTICLE_NAMES, strict=True)):
            if name in _INT_PARTICLE_COLUMNS:
                columns[name] = _as_integers(table[index], particle_line_numbers, path, lhe_name)
            else:
                columns[name] = table[index]

        event_starts = line_starts[opens]
        event_ends = line_ends[closes]
        columns["weights"] = self._parse_weights(
            data, array, token_starts, token_ends, event_starts, event_ends, columns["event_line"]
        )
        return columns

    # -- named weights -------------------------------------------------------------------------

    def _parse_weights(
        self,
        data: bytes,
        array: np.ndarray,
        token_starts: np.ndarray,
        token_ends: np.ndarray,
        event_starts: np.ndarray,
        event_ends: np.ndarray,
        event_lines: np.ndarray,
    ) -> dict[str, np.ndarray]:
        n_events = event_starts.size
        region = array[int(event_starts[0]) : int(event_ends[-1])]
        less = np.flatnonzero(region == ord("<")) + int(event_starts[0])
        wgt = less[_matches(array, less + 1, b"wgt") & _tag_ends(array, less, 4)]
        blocks = less[_matches(array, less + 1, b"weights") & _tag_ends(array, less, 8)]
        greater = None  # positions of '>', found only where needed

        def tag_ends(tags: np.ndarray) -> np.ndarray:  # the '>' that ends each tag
            nonlocal greater
            if greater is None:
                greater = np.flatnonzero(region == ord(">")) + int(event_starts[0])
            return greater[np.searchsorted(greater, tags)]

        if self.weight_names is None:
            self._learn_weights(data, int(event_starts[0]), int(event_ends[0]))
        names = self.weight_names
        assert names is not None
        weights: dict[str, np.ndarray] = {}

        # <rwgt><wgt id=...>value</wgt>
        event_of_wgt = np.searchsorted(event_starts, wgt, side="right") - 1
        n_rwgt = len(self.rwgt_ids)
        if wgt.size or n_rwgt:
            per_event = np.bincount(event_of_wgt, minlength=n_events)
            same_tags = n_rwgt > 0 and (per_event == n_rwgt).all() and self._same_tags(array, wgt, n_events)
            if same_tags:  # the usual case: each event's <wgt> tags are those of the first event
                tag_end = wgt + np.tile([len(tag) - 1 for tag in self.rwgt_tags], n_events)
            else:
                tag_end = tag_ends(wgt)
            counts, value_starts, value_ends = self._tag_values(
                array, token_starts, token_ends, less, tag_end, wgt, b"wgt"
            )
            if (counts != 1).any():
                i = int(np.argmax(counts != 1))
                found = data[int(tag_end[i]) + 1 : int(less[np.searchsorted(less, wgt[i], side="right")])]
                raise _error(
                    self.path,
                    int(self._line_of(wgt[i])),
                    f"expected one number as the value of <wgt>, found {found.decode('utf-8', 'replace')!r}",
                )
            values = _parse_numbers(
                data, array, value_starts, value_ends, self._line_of(value_starts), self.path, "<wgt> value"
            )
            if same_tags:
                matrix = values.reshape(n_events, n_rwgt)
                for column, name in enumerate(self.rwgt_ids):
                    weights[name] = matrix[:, column]
            else:
                weights.update(self._rwgt_by_id(data, wgt, event_of_wgt, values, event_lines, n_events))

        # LHEF3 <weights> v0 v1 ... </weights>
        if blocks.size or self.block_names:
            event_of_block = np.searchsorted(event_starts, blocks, side="right") - 1
            weights.update(
                self._weights_blocks(
                    data,
                    array,
                    token_starts,
                    token_ends,
                    less,
                    tag_ends(blocks),
                    blocks,
                    event_of_block,
                    event_lines,
                )
            )
        return {name: weights[name] for name in names}

    def _tag_values(
        self,
        array: np.ndarray,
        token_starts: np.ndarray,
        token_ends: np.ndarray,
        less: np.ndarray,
        tag_end: np.ndarray,
        tags: np.ndarray,
        name: bytes,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The numbers between each tag ``<name ...>`` at ``tags`` (ending at ``tag_end``) and ``</name>``.

        Returns the number of tokens of each and the tokens.
        """
        content_end = less[np.searchsorted(less, tags, side="right")]
        closed = (array[content_end + 1] == ord("/")) & _matches(array, content_end + 2, name)
        closed &= _tag_ends(array, content_end + 1, len(name) + 1)
        if not closed.all():
            i = int(np.argmax(~closed))
            raise _error(
                self.path,
                int(self._line_of(content_end[i])),
                f"expected </{name.decode()}> to close the <{name.decode()}> tag of line "
                f"{int(self._line_of(tags[i]))}",
            )
        return _tokens_within(token_starts, token_ends, tag_end + 1, content_end)

    def _learn_weights(self, data: bytes, start: int, end: int) -> None:
        """Take the names of the weights, and the tags of the <wgt> weights, from the file's first event."""
        for position in (match.start() for match in _WGT_START.finditer(data, start, end)):
            match = _WGT.match(data, position)
            line = int(self._line_of(position))
            if match is None:
                raise _error(self.path, line, "malformed <wgt> tag; expected <wgt id='...'> value </wgt>")
            identifier = _wgt_id(match.group(1))
            if identifier is None:
                raise _error(self.path, line, "<wgt> without an id attribute; expected <wgt id='...'>")
            if identifier in self.rwgt_ids:
                raise _error(self.path, line, f"weight id {identifier!r} appears twice in the event")
            self.rwgt_ids.append(identifier)
            self.rwgt_tags.append(data[position : match.start(2)])
        block = _WEIGHTS_BLOCK.search(data, start, end)
        block_names: list[str] = []
        if block is not None:
            line = int(self._line_of(block.start()))
            count = len(block.group(1).split())
            block_names = [name for name in self._block_names(count, line) if name not in self.rwgt_ids]
        self.block_names = frozenset(block_names)
        self.weight_names = self.rwgt_ids + block_names

    def _block_names(self, count: int, line: int) -> list[str]:
        if not self.declared_ids:
            return [f"weights_{i}" for i in range(count)]
        if count > len(self.declared_ids):
            raise _error(
                self.path,
                line,
                f"<weights> block with {count} values, but the header's <initrwgt> declares only "
                f"{len(self.declared_ids)} weight ids to name them",
            )
        return list(self.declared_ids[:count])

    def _same_tags(self, array: np.ndarray, wgt: np.ndarray, n_events: int) -> bool:
        """Whether every event's <wgt> tags are, byte for byte, those of the first event."""
        n_rwgt = len(self.rwgt_tags)
        lengths = np.array([len(tag) for tag in self.rwgt_tags])
        width = int(lengths.max())
        if int(wgt[-1]) + width > array.size:
            return False
        expected = np.zeros((n_rwgt, width), dtype=np.uint8)
        for row, tag in enumerate(self.rwgt_tags):
            expected[row, : len(tag)] = np.frombuffer(tag, dtype=np.uint8)
        windows = _windows(array, wgt, width).reshape(n_events, n_rwgt, width)
        mask = np.arange(width) < lengths[:, None]
        return bool(((windows == expected) | ~mask).all())

    def _rwgt_by_id(
        self,
        data: bytes,
        wgt: np.ndarray,
        event_of_wgt: np.ndarray,
        values: np.ndarray,
        event_lines: np.ndarray,
        n_events: int,
    ) -> dict[str, np.ndarray]:
        """The <wgt> weights where events differ from the first one (order, spelling, or a mistake)."""
        index = {name: column for column, name in enumerate(self.rwgt_ids)}
        columns = np.empty(wgt.size, dtype=np.int64)
        for i, position in enumerate(wgt):
            match = _WGT.match(data, int(position))
            line = int(self._line_of(position))
            if match is None:
                raise _error(self.path, line, "malformed <wgt> tag; expected <wgt id='...'> value </wgt>")
            identifier = _wgt_id(match.group(1))
            if identifier is None:
                raise _error(self.path, line, "<wgt> without an id attribute; expected <wgt id='...'>")
            if identifier not in index:
                raise _error(
                    self.path,
                    line,
                    f"weight {identifier!r} is not among the weights {self.rwgt_ids} of the file's first "
                    "event; all events must carry the same named weights",
                )
            columns[i] = index[identifier]
        n_rwgt = len(self.rwgt_ids)
        counts = np.bincount(event_of_wgt * n_rwgt + columns, minlength=n_events * n_rwgt)
        counts = counts.reshape(n_events, n_rwgt)
        if (counts != 1).any():
            event = int(np.argmax((counts != 1).any(axis=1)))
            missing = [name for name, count in zip(self.rwgt_ids, counts[event], strict=True) if count == 0]
            repeated = [name for name, count in zip(self.rwgt_ids, counts[event], strict=True) if count > 1]
            raise _error(
                self.path,
                int(event_lines[event]),
                "the event does not carry the same named weights as the file's first event "
                f"(missing {missing}, repeated {repeated})",
            )
        matrix = np.empty((n_events, n_rwgt))
        matrix[event_of_wgt, columns] = values
        return {name: matrix[:, column] for column, name in enumerate(self.rwgt_ids)}

    def _weights_blocks(
        self,
        data: bytes,
        array: np.ndarray,
        token_starts: np.ndarray,
        token_ends: np.ndarray,
        less: np.ndarray,
        tag_end: np.ndarray,
        blocks: np.ndarray,
        event_of_block: np.ndarray,
        event_lines: np.ndarray,
    ) -> dict[str, np.ndarray]:
        n_events = event_lines.size
        per_event = np.bincount(event_of_block, minlength=n_events)
        if (per_event > 1).any():
            event = int(np.argmax(per_event > 1))
            raise _error(self.path, int(event_lines[event]), "the event has more than one <weights> block")
        counts, starts, ends = self._tag_values(
            array, token_starts, token_ends, less, tag_end, blocks, b"weights"
        )
        values = _parse_numbers(
            data, array, starts, ends, self._line_of(starts), self.path, "<weights> value"
        )
        count_of_event = np.zeros(n_events, dtype=np.int64)
        count_of_event[event_of_block] = counts
        first_of_event = np.zeros(n_events, dtype=np.int64)
        first_of_event[event_of_block] = np.cumsum(counts) - counts
        result: dict[str, np.ndarray] = {}
        for count in np.unique(count_of_event):
            events = np.flatnonzero(count_of_event == count)
            names = self._block_names(int(count), int(event_lines[events[0]])) if count else []
            kept = [(i, name) for i, name in enumerate(names) if name not in self.rwgt_ids]
            if {name for _, name in kept} != self.block_names:
                raise _error(
                    self.path,
                    int(event_lines[events[0]]),
                    f"the event's <weights> block has {int(count)} values, giving the weights "
                    f"{sorted(name for _, name in kept)} instead of those of the file's first event "
                    f"{sorted(self.block_names)}; all events must carry the same named weights",
                )
            if len(kept) < len(names) and not self.warned_dropped:
                logger.info("%s: <weights> values also given in <rwgt> are taken from <rwgt>", self.path)
                self.warned_dropped = True
            for i, name in kept:
                result.setdefault(name, np.empty(n_events))[events] = values[first_of_event[events] + i]
        return result


def _tokens_within(
    token_starts: np.ndarray, token_ends: np.ndarray, region_starts: np.ndarray, region_ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whitespace-separated tokens within each region ``[start, end)``, cut to the region.

    Returns the number of tokens of each region and all tokens' starts and ends, region by region.
    """
    low = np.searchsorted(token_ends, region_starts, side="right")
    high = np.searchsorted(token_starts, region_ends, side="left")
    counts = np.maximum(high - low, 0)
    region = np.repeat(np.arange(region_starts.size), counts)
    index = np.repeat(low - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    starts = np.maximum(token_starts[index], region_starts[region])
    ends = np.minimum(token_ends[index], region_ends[region])
    empty = ends <= starts  # only where a region is empty
    if empty.any():
        starts, ends, region = starts[~empty], ends[~empty], region[~empty]
        counts = np.bincount(region, minlength=region_starts.size)
    return counts, starts, ends


def _wgt_id(attributes: bytes) -> str | None:
    match = _WGT_ID.search(attributes)
    if match is None:
        return None
    raw = match.group(1) if match.group(1) is not None else match.group(2)
    return unescape(raw.decode("utf-8", "replace"), _XML_ENTITIES)


def _iter_blocks(
    stream: _ByteStream, parser: _BlockParser, rest: bytes, first_line: int
) -> Generator[dict, None, None]:
    """Read the event part block by block and yield the columns of each block's complete events.

    Blocks are parsed by :data:`_PARSE_THREADS` threads (see :class:`_BlockPipeline`); the
    threads are stopped, and pending work dropped, when the caller stops iterating.
    """
    with ThreadPoolExecutor(max_workers=_PARSE_THREADS, thread_name_prefix="motherlode-lhe-parse") as pool:
        pipeline = _BlockPipeline(stream, parser, rest, first_line, pool)
        try:
            yield from pipeline
        finally:
            pipeline.drop_pending()


@dataclass
class _Pending:
    """A block submitted for parsing, ``parser.parse(padded, first_line, final)``."""

    future: Future
    padded: bytes  # complete lines between _PAD spaces
    rest: bytes  # the incomplete line after them
    first_line: int
    predicted: int  # the bytes the parse is expected to consume; the next block starts there
    replay: list[tuple[bytes, int]]  # what was read after this block (bytes, newlines)


_SPACES = b" " * _PAD


class _BlockPipeline:
    """Parses the blocks of the event part in worker threads, several at a time, in file order.

    Parsing a block needs the bytes the previous block leaves unconsumed (the lines after its
    last ``</event>``). Those are *predicted* (the bytes after the last ``</event>``, found with
    ``bytes.rfind``) so that the next block can be parsed while the previous one still is; the
    results are taken in file order, and where a parse consumed other bytes than predicted (a
    malformed file, an event longer than a block), the blocks after it are dropped and parsed
    again from the right bytes. So results and errors are those of parsing the blocks one after
    the other: the first error in file order is raised, and nothing after ``</LesHouchesEvents>``
    is looked at. NumPy and zlib release the GIL for most of the work, so the threads (and the
    reading, in the calling thread) run in parallel. The file's first event sets the named
    weights (the parser's state): blocks are parsed one at a time until it is known.
    """

    def __init__(
        self,
        stream: _ByteStream,
        parser: _BlockParser,
        rest: bytes,
        first_line: int,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.stream, self.parser, self.pool = stream, parser, pool
        self.carry = rest  # the predicted unconsumed bytes, start of the next block
        self.carry_lines = rest.count(b"\n")
        self.first_line = first_line  # line of the carry's first byte
        self.replay: list[tuple[bytes, int] | FileFormatError] = []  # to use before reading again
        self.pending: deque[_Pending] = deque()
        self.exhausted = False  # the last block (or an error ending the file) was submitted

    def __iter__(self) -> Iterator[dict]:
        while True:
            self._fill()
            if not self.pending:
                return
            entry = self.pending.popleft()
            columns, consumed, consumed_lines, finished = entry.future.result()
            if columns is not None:
                yield columns
            if finished:
                return
            if consumed != entry.predicted:
                self._restart(entry, consumed, consumed_lines)
            if len(entry.padded) - 2 * _PAD + len(entry.rest) - consumed > _MAX_EVENT_BYTES:
                raise _error(
                    self.stream.path,
                    entry.first_line + consumed_lines,
                    f"no complete event within {_MAX_EVENT_BYTES} bytes; expected </event>",
                )

    def _fill(self) -> None:
        """Submit blocks until :data:`_PENDING_BLOCKS` are pending (one while the weights are unknown)."""
        limit = _PENDING_BLOCKS if self.parser.weight_names is not None else 1
        while not self.exhausted and len(self.pending) < limit:
            if self.pending and len(self.carry) > _MAX_EVENT_BYTES:
                break  # the pending block raises
            self._submit_next()

    def _read(self) -> tuple[bytes, int] | FileFormatError:
        """The next bytes of the stream and their newlines, or the error reading them."""
        if self.replay:
            return self.replay.pop(0)
        before = self.stream.lines_read
        try:
            data = self.stream.read(BLOCK_SIZE)
        except FileFormatError as error:
            return error
        return data, self.stream.lines_read - before

    def _submit_next(self) -> None:
        read = self._read()
        if isinstance(read, FileFormatError):  # raised when the blocks before it are taken
            self.replay.insert(0, read)  # (and read again if they are parsed again)
            self.pending.append(_Pending(_failed(read), b"", b"", self.first_line, 0, []))
            self.exhausted = True
            return
        if self.pending:
            self.pending[-1].replay.append(read)
        data, data_lines = read
        carry, lines = self.carry, self.carry_lines + data_lines
        if data:
            complete = data.rfind(b"\n") + 1  # the lines to parse: the carry and data[:complete]
            if complete == 0:  # no line ends in data: parse it with the next bytes
                self.carry, self.carry_lines = carry + data, lines
                return
        else:  # the end of the file: the carry is the last block
            self.exhausted = True
            complete = 0
            if not carry:
                error = _error(
                    self.stream.path,
                    self.first_line,
                    "end of file without </LesHouchesEvents> (file truncated?)",
                )
                self.pending.append(_Pending(_failed(error), b"", b"", self.first_line, 0, []))
                return
            if not carry.endswith(b"\n"):
                carry += b"\n"
                lines += 1
        view = memoryview(data)
        padded = b"".join((_SPACES, carry, view[:complete], _SPACES))  # one copy
        rest = bytes(view[complete:])
        future = self.pool.submit(self.parser.parse, padded, self.first_line, not data)
        close = padded.rfind(b"</event", _PAD)
        predicted = 0 if close < 0 else padded.index(b"\n", close) + 1 - _PAD
        self.pending.append(_Pending(future, padded, rest, self.first_line, predicted, []))
        self.carry = padded[_PAD + predicted : -_PAD] + rest
        self.carry_lines = self.carry.count(b"\n")
        self.first_line += lines - self.carry_lines

    def _restart(self, entry: _Pending, consumed: int, consumed_lines: int) -> None:
        """Drop the pending blocks, parsed from a wrong prediction, and go on from what ``entry`` left."""
        replay = entry.replay + [read for pending in self.pending for read in pending.replay]
        self.drop_pending()
        self.replay = [*replay, *self.replay]
        self.carry = entry.padded[_PAD + consumed : -_PAD] + entry.rest
        self.carry_lines = self.carry.count(b"\n")
        self.first_line = entry.first_line + consumed_lines
        self.exhausted = False

    def drop_pending(self) -> None:
        """Cancel or wait for the pending blocks, ignoring their results and errors."""
        for entry in self.pending:
            if not entry.future.cancel():
                entry.future.exception()
        self.pending.clear()


def _failed(error: Exception) -> Future:
    """A future that raises ``error``."""
    future: Future = Future()
    future.set_exception(error)
    return future


class _ChunkBuilder:
    """Copies the events of one chunk out of the parsed blocks.

    The arrays are allocated for the whole chunk up front where it has at most
    :data:`_CHUNK_PREALLOCATION` events (``np.empty`` claims no memory until written), and grow
    by doubling beyond. So the blocks are freed as soon as they are copied and a chunk is not
    copied again: memory is about one chunk being built, one block, and what the caller keeps.
    """

    def __init__(self, path: str, first_event: int, size: int) -> None:
        self.path, self.first_event, self.size = path, first_event, size
        self.n_events = 0
        self.n_particles = 0
        self.columns: dict[str, np.ndarray] = {}
        self.weights: dict[str, np.ndarray] = {}
        self._event_capacity = 0
        self._particle_capacity = 0

    def _reserve(self, n_events: int, n_particles: int, mean_particles: float) -> None:
        """Make room for ``n_events`` events with ``n_particles`` particles in all."""
        if n_events > self._event_capacity:
            capacity = max(n_events, min(self.size, max(2 * self._event_capacity, _CHUNK_PREALLOCATION)))
            self._event_capacity = capacity
            self._resize(
                [key for key in self.columns if key not in PARTICLE_COLUMNS], capacity, self.n_events
            )
            self._resize(list(self.weights), capacity, self.n_events, self.weights)
        if n_particles > self._particle_capacity:
            estimate = int(1.25 * mean_particles * self._event_capacity) + 16
            capacity = max(n_particles, estimate, int(1.5 * self._particle_capacity))
            self._particle_capacity = capacity
            self._resize([key for key in self.columns if key in PARTICLE_COLUMNS], capacity, self.n_particles)

    def _resize(self, keys: list[str], capacity: int, used: int, store: dict | None = None) -> None:
        store = self.columns if store is None else store
        for key in keys:
            grown = np.empty(capacity, dtype=store[key].dtype)
            grown[:used] = store[key][:used]
            store[key] = grown

    def add(self, block: dict, offsets: np.ndarray, start: int, stop: int) -> None:
        """Append the events ``start:stop`` of ``block`` (``offsets``: its particle offsets)."""
        low, high = int(offsets[start]), int(offsets[stop])
        mean_particles = offsets[-1] / max(offsets.size - 1, 1)
        self._reserve(self.n_events + stop - start, self.n_particles + high - low, mean_particles)
        for key, values in block.items():
            if key == "weights":
                continue
            particle = key in PARTICLE_COLUMNS
            if key not in self.columns:
                size = self._particle_capacity if particle else self._event_capacity
                self.columns[key] = np.empty(size, dtype=values.dtype)
            if particle:
                self.columns[key][self.n_particles : self.n_particles + high - low] = values[low:high]
            else:
                self.columns[key][self.n_events : self.n_events + stop - start] = values[start:stop]
        for name, values in block["weights"].items():
            target = self.weights.setdefault(name, np.empty(self._event_capacity))
            target[self.n_events : self.n_events + stop - start] = values[start:stop]
        self.n_events += stop - start
        self.n_particles += high - low

    def build(self) -> LHEEventChunk:
        columns = {
            key: values[: self.n_particles if key in PARTICLE_COLUMNS else self.n_events]
            for key, values in self.columns.items()
        }
        weights = {name: values[: self.n_events] for name, values in self.weights.items()}
        return LHEEventChunk(path=self.path, first_event=self.first_event, weights=weights, **columns)


def _offsets(n_particles: np.ndarray) -> np.ndarray:
    offsets = np.zeros(n_particles.size + 1, dtype=np.int64)
    np.cumsum(n_particles, out=offsets[1:])
    return offsets
