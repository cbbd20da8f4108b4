"""Builders of web archives for tests: well-formed WARC/WET files through warcio, and raw bytes for broken ones.

Everything is deterministic: record ids derive from the URL and position, dates are fixed, so the same call
writes the same bytes and a job over the result gives the same record ids every time.

    pages = [Page("https://example.org/a", good_html(1)), Page("https://example.org/img", PNG, kind="response",
             headers=(("Content-Type", "image/png"),))]
    write_warc(tmp_path / "sample.warc.gz", pages)
"""

from __future__ import annotations

import gzip as gzip_module
import io
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

FIXED_DATE = "2024-05-01T12:00:00Z"
ARC_DATE = "20240501120000"
HTML_UTF8 = (("Content-Type", "text/html; charset=utf-8"),)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# English prose, every sentence distinct, so pages built from it pass the default quality filters
# (Gopher quality and repetition, C4, FineWeb) and the language-ID threshold.
SENTENCES = (
    "The river that runs through the old town was once the main road for merchants and their goods.",
    "Every spring the water rises and covers the lower fields with a thin layer of rich brown silt.",
    "Farmers in the valley learned long ago to plant their crops after the floods had passed.",
    "The stone bridge near the market was built more than three hundred years ago by local masons.",
    "Children still gather on the bridge in the evening to watch the boats come back from the lake.",
    "A small museum beside the church keeps maps, letters and tools from the early days of the town.",
    "Visitors often stop at the bakery on the square, which opens before dawn and closes at noon.",
    "The baker has kept the same recipe for rye bread that his grandmother used before the war.",
    "In the autumn the hills turn red and gold, and walkers come from the city to follow the ridge paths.",
    "The longest trail climbs to a fire tower with a view across the whole valley and the distant mountains.",
    "Local volunteers repair the footpaths each year and mark the routes with small painted signs.",
    "The railway reached the town in the last century and changed the way people travelled and worked.",
    "Before the station opened, a journey to the coast took three days by cart along muddy roads.",
    "Today the train makes the same trip in a little over two hours, with a change at the junction.",
    "The school on the hill has taught children from the surrounding farms for several generations.",
    "Its library holds a collection of books donated by families who moved away to find work.",
    "Each summer the town holds a fair with music, dancing and a competition for the best preserves.",
    "The judges taste dozens of jars of jam and honey before they announce the winners at sunset.",
    "Many of the houses along the main street have wooden balconies covered with flowers in July.",
    "The council asks owners to keep the old facades and to use traditional materials for repairs.",
    "A weekly newspaper reports on meetings, births, weddings and the results of the football club.",
    "The club plays its home games on a field beside the river that floods in the wettest years.",
    "Fishermen on the lake catch perch and pike, and sell part of their catch at the Friday market.",
    "Rules limit the number of fish each person may take, so that the stock can recover over winter.",
    "The forest to the north is home to deer, foxes and a growing population of wild boar.",
    "Rangers count the animals every winter and publish a report that the schools use in their lessons.",
    "The town hall clock has struck the hours since it was installed by a travelling clockmaker.",
    "When it stopped during a storm, the whole town collected money to bring an expert from the city.",
    "The doctor who runs the clinic on the square also visits older patients at their homes each week.",
    "She says that the best medicine in the valley is still fresh air, good bread and a long walk.",
    "A family of potters sells bowls and plates glazed with the blue clay found along the riverbank.",
    "Their workshop is open to visitors, who can watch the wheel turn and try to shape a cup themselves.",
    "The valley has its own dialect, and older residents still use words that visitors rarely understand.",
    "A teacher at the school has written a short dictionary of these words so that they are not forgotten.",
    "On winter nights the inn by the bridge serves soup, roasted chestnuts and warm spiced wine to guests.",
    "The innkeeper keeps a guest book in which travellers have written their names for over a century.",
    "Some of the oldest entries are in faded ink and describe journeys made on foot across the pass.",
    "The pass is closed from December to March, when snow makes the road too dangerous for cars.",
    "Road crews begin clearing the snow in late February and usually reopen the route by early spring.",
    "Life in the valley follows the seasons, and most families still plan their year around the harvest.",
)


def prose(seed: int, n_sentences: int = 12, extra: Sequence[str] = ()) -> list[str]:
    """Paragraphs of distinct English sentences (about 17 words each), chosen by ``seed``; ``extra``
    sentences are spread through them, e.g. to carry a word the test looks for."""
    rng = random.Random(seed)
    picked = rng.sample(SENTENCES, n_sentences)
    for i, sentence in enumerate(extra):
        picked.insert(min(len(picked), 1 + 3 * i), sentence)
    return [" ".join(picked[i : i + 3]) for i in range(0, len(picked), 3)]


def html_page(title: str, paragraphs: Sequence[str], meta_charset: str | None = "utf-8") -> str:
    """A real-looking article page: head, navigation, article paragraphs, footer."""
    charset = f'<meta charset="{meta_charset}">\n' if meta_charset else ""
    body = "\n".join(f"    <p>{p}</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n'
        f"{charset}<title>{title}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "</head>\n<body>\n"
        '<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/about">About</a></nav>\n'
        f"<main>\n  <article>\n    <h1>{title}</h1>\n{body}\n  </article>\n</main>\n"
        "<footer><p>Contact the editors</p></footer>\n</body>\n</html>\n"
    )


def good_html(
    seed: int,
    extra: Sequence[str] = (),
    encoding: str = "utf-8",
    meta_charset: str | None = "utf-8",
    n_sentences: int = 12,
) -> bytes:
    """A page that survives the default filters (about 200 words of prose in 4 paragraphs)."""
    text = html_page(f"Notes from the valley, part {seed}", prose(seed, n_sentences, extra), meta_charset)
    return text.encode(encoding)


@dataclass(frozen=True)
class Repeated:
    """A body of ``size`` bytes made by repeating ``unit``, produced lazily (nothing that size is held)."""

    unit: bytes
    size: int
    prefix: bytes = b""

    def open(self) -> io.BufferedReader:
        return io.BufferedReader(_RepeatedStream(self), buffer_size=1 << 20)


class _RepeatedStream(io.RawIOBase):
    def __init__(self, spec: Repeated):
        self.spec, self.pos = spec, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.spec.size}[whence]
        self.pos = max(0, base + pos)
        return self.pos

    def readinto(self, buf) -> int:
        spec, n = self.spec, min(len(buf), max(0, self.spec.size - self.pos))
        if n == 0:
            return 0
        out = bytearray()
        pos = self.pos
        while len(out) < n:
            if pos < len(spec.prefix):
                chunk = spec.prefix[pos:]
            else:
                k = (pos - len(spec.prefix)) % len(spec.unit)
                chunk = spec.unit[k:] + spec.unit * max(1, (n - len(out)) // len(spec.unit))
            chunk = chunk[: n - len(out)]
            out += chunk
            pos += len(chunk)
        buf[:n] = out
        self.pos = pos
        return n


@dataclass(frozen=True)
class Page:
    """One archive record. ``kind`` is the WARC-Type; ``headers`` are HTTP headers (response/revisit) or,
    for records without HTTP headers (resource, conversion, metadata), give ``content_type``."""

    url: str
    body: bytes | Repeated = b""
    headers: Sequence[tuple[str, str]] = HTML_UTF8
    status: str = "200 OK"
    kind: str = "response"
    content_type: str | None = None
    warc_fields: Sequence[tuple[str, str]] = field(default_factory=tuple)


def record_id_for(url: str, index: int, namespace: str = "") -> str:
    """A WARC-Record-ID that is the same on every call with the same arguments (warcio's are random)."""
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{namespace}/{url}#{index}')}>"


def _body_stream(body: bytes | Repeated) -> tuple[io.IOBase, int]:
    if isinstance(body, Repeated):
        return body.open(), body.size
    return io.BytesIO(body), len(body)


def _build_record(writer, page: Page, index: int, namespace: str):
    from warcio.statusandheaders import StatusAndHeaders

    fields = {
        "WARC-Record-ID": record_id_for(page.url, index, namespace),
        "WARC-Date": FIXED_DATE,
        **dict(page.warc_fields),
    }
    if page.kind == "revisit":
        http = StatusAndHeaders(page.status, list(page.headers), protocol="HTTP/1.1")
        return writer.create_revisit_record(
            page.url,
            digest="sha1:" + "A" * 32,
            refers_to_uri=page.url,
            refers_to_date=FIXED_DATE,
            http_headers=http,
            warc_headers_dict=fields,
        )
    stream, length = _body_stream(page.body)
    if page.kind in ("response", "request"):
        if page.kind == "request":
            http = StatusAndHeaders(page.status, list(page.headers), protocol="", is_http_request=True)
        else:
            http = StatusAndHeaders(page.status, list(page.headers), protocol="HTTP/1.1")
        return writer.create_warc_record(
            page.url, page.kind, payload=stream, length=length, http_headers=http, warc_headers_dict=fields
        )
    return writer.create_warc_record(
        page.url,
        page.kind,
        payload=stream,
        length=length,
        warc_content_type=page.content_type or "",
        warc_headers_dict=fields,
    )


def _warcinfo(writer, filename: str):
    info = f"software: corpusforge-tests\r\nformat: WARC File Format\r\nisPartOf: {filename}\r\n".encode()
    fields = {
        "WARC-Record-ID": record_id_for("warcinfo", 0, filename),
        "WARC-Date": FIXED_DATE,
        "WARC-Filename": filename,
    }
    return writer.create_warc_record(
        "", "warcinfo", payload=io.BytesIO(info), length=len(info), warc_headers_dict=fields
    )


def warc_bytes(
    pages: Iterable[Page], *, gzip: bool = True, version: str = "1.0", name: str = "test.warc", warcinfo: bool = True
) -> tuple[bytes, list[int]]:
    """The archive's bytes and the byte offset where each page's record starts (warcinfo excluded).

    With ``gzip`` every record is its own gzip member, as the WARC standard recommends. ``name`` is the
    file name the warcinfo record gives and the namespace of the record ids."""
    buf = io.BytesIO()
    offsets = _write(buf, pages, gzip=gzip, version=version, name=name, warcinfo=warcinfo)
    return buf.getvalue(), offsets


def _write(out, pages: Iterable[Page], *, gzip: bool, version: str, name: str, warcinfo: bool) -> list[int]:
    from warcio.warcwriter import WARCWriter

    writer = WARCWriter(out, gzip=gzip, warc_version=version)
    if warcinfo:
        writer.write_record(_warcinfo(writer, name))
    offsets = []
    for index, page in enumerate(pages):
        offsets.append(out.tell())
        writer.write_record(_build_record(writer, page, index, name))
    return offsets


def write_warc(
    path: str | Path, pages: Iterable[Page], *, gzip: bool | None = None, version: str = "1.0", warcinfo: bool = True
) -> Path:
    """Write ``pages`` to ``path``; compressed when ``gzip`` is True or, if None, when the name ends in .gz."""
    path = Path(path)
    gz = path.name.endswith(".gz") if gzip is None else gzip
    with open(path, "wb") as out:
        _write(out, pages, gzip=gz, version=version, name=path.name, warcinfo=warcinfo)
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.write_bytes(data)
    return path


def truncated_warc(
    pages: Sequence[Page], *, gzip: bool = True, version: str = "1.0", name: str = "test.warc", fraction: float = 0.5
) -> bytes:
    """A valid archive cut ``fraction`` of the way into its last record."""
    data, offsets = warc_bytes(pages, gzip=gzip, version=version, name=name)
    last = offsets[-1]
    return data[: last + max(1, int((len(data) - last) * fraction))]


# ---- raw bytes, for records warcio would refuse to write ----------------------------------------------------


def http_block(
    body: bytes, headers: Sequence[tuple[str, str]] = HTML_UTF8, status: str = "200 OK", protocol: str = "HTTP/1.1"
) -> bytes:
    """An HTTP response as archived: status line, headers, blank line, body."""
    lines = [f"{protocol} {status}", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def raw_warc_record(
    block: bytes,
    *,
    url: str | None = None,
    kind: str = "response",
    version: bytes = b"WARC/1.0",
    fields: Sequence[tuple[str, str]] | None = None,
    content_length: str | None = None,
    index: int = 0,
    namespace: str = "raw",
    header_lines: Sequence[bytes] = (),
) -> bytes:
    """One uncompressed WARC record built by hand. ``version`` is the first line as given (garbage allowed),
    ``header_lines`` are raw lines appended to the header block as they are (broken ones allowed) and
    ``content_length`` overrides the computed length."""
    if fields is None:
        fields = [
            ("WARC-Type", kind),
            ("WARC-Record-ID", record_id_for(url or kind, index, namespace)),
            ("WARC-Date", FIXED_DATE),
        ]
        if url:
            fields.append(("WARC-Target-URI", url))
        if kind == "response":
            fields.append(("Content-Type", "application/http; msgtype=response"))
    head = [version] + [f"{k}: {v}".encode() for k, v in fields] + list(header_lines)
    head.append(b"Content-Length: " + (content_length or str(len(block))).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + block + b"\r\n\r\n"


def gzip_member(data: bytes) -> bytes:
    return gzip_module.compress(data, mtime=0)


def arc_file(pages: Sequence[Page], filename: str = "test.arc", *, gzip: bool = False) -> bytes:
    """An ARC v1 file (the Internet Archive's format before WARC): a ``filedesc://`` header record, then
    one record per page: ``URL IP-address Archive-date Content-type Archive-length`` and the HTTP response."""
    spec = b"1 0 CorpusForgeTests\nURL IP-address Archive-date Content-type Archive-length\n"
    records = [f"filedesc://{filename} 0.0.0.0 {ARC_DATE} text/plain {len(spec)}\n".encode() + spec + b"\n"]
    for page in pages:
        body = page.body if isinstance(page.body, bytes) else page.body.open().read()
        block = http_block(body, page.headers, page.status, protocol="HTTP/1.0").replace(b"\r\n", b"\n")
        mime = dict(page.headers).get("Content-Type", "text/html").split(";")[0].strip()
        line = f"{page.url} 192.0.2.1 {ARC_DATE} {mime} {len(block)}\n".encode()
        records.append(line + block + b"\n")
    if gzip:
        return b"".join(gzip_member(r) for r in records)
    return b"".join(records)


def wet_pages(texts: Sequence[tuple[str, str]]) -> list[Page]:
    """WET conversion records (Common Crawl's extracted text) for (url, text) pairs."""
    return [
        Page(
            url,
            text.encode("utf-8"),
            headers=(),
            kind="conversion",
            content_type="text/plain",
            warc_fields=(("WARC-Refers-To", record_id_for(url, 1000 + i)),),
        )
        for i, (url, text) in enumerate(texts)
    ]


def prose_text(seed: int, n_sentences: int = 12) -> str:
    """Plain text as a WET record holds it: one paragraph per line."""
    return "\n".join(prose(seed, n_sentences)) + "\n"
