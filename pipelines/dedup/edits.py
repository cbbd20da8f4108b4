"""Realistic near-duplicates of real documents, to measure fuzzy dedup against a known truth.

Web near-duplicates are mostly the same text under another site's template (cookie banners, navigation,
share buttons, a copyright year), re-published with a sentence added or cut, numbers updated, paragraphs
moved, or small typos and whitespace differences. Each edit here does one of those with a seeded
``random.Random``; `near_duplicate` applies a random mix of one to three. `load_real_documents` gives the
real documents to edit (and to draw hard negatives from), taken from ``../shared/data``.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

# a sentence ends at . ! ? before a capital, a digit or an opening quote; "U.S." and "Dr." do not end one
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\b(?:Mr|Dr|St|Co|Nr|Jr|vs)\.)\s+(?=[\"“‘„(\[]?[^\W\d_a-z]|\d)")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W\d_]{3,}")
_YEAR = re.compile(r"(©|\(c\)|Copyright)\s*(\d{4})", re.IGNORECASE)
_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"

SITES = ("Daily Courier", "Nordkurier", "TechWire", "Example Media", "Stadtanzeiger", "El Diario Libre", "Le Quotidien")
HEADERS = (
    "Skip to main content",
    "Home | News | Politics | Business | Sport | Culture | Contact",
    "Startseite > Aktuelles > Regionales",
    "Menu  Search  Log in  Subscribe",
    "We use cookies to improve your experience. By continuing to browse this site you agree to our use of cookies. "
    "Accept all | Manage settings",
    "Diese Website verwendet Cookies. Wenn Sie die Website weiter nutzen, stimmen Sie der Verwendung von Cookies zu. "
    "Akzeptieren",
    "Advertisement",
    "Posted by admin in Uncategorized",
    "You are here: Home » Blog » Archive",
    "BREAKING: Sign up for our free daily newsletter",
)
FOOTERS = (
    "Share this article: Facebook Twitter WhatsApp Email",
    "Diesen Artikel teilen: Facebook Twitter E-Mail",
    "Related articles",
    "Read more: Top stories of the week",
    "Tags: news, local, updates",
    "Impressum | Datenschutz | Kontakt | AGB",
    "Privacy Policy | Terms of Use | Cookie Settings | Contact Us",
    "Leave a comment. Your email address will not be published. Required fields are marked *",
    "Subscribe to our newsletter to get the latest stories in your inbox.",
    "Back to top",
)
COPYRIGHT = (
    "© {year} {site}. All rights reserved.",
    "Copyright {year} {site}",
    "© {year} {site} – Alle Rechte vorbehalten",
)


def _paragraphs(text: str) -> list[list[str]]:
    """Lines of sentences: edits move and cut sentences without merging lines."""
    return [[s for s in _SENTENCE_END.split(line) if s] for line in text.split("\n")]


def _join(paragraphs: list[list[str]]) -> str:
    return "\n".join(" ".join(p) for p in paragraphs)


def _sentence_slots(paragraphs: list[list[str]]) -> list[tuple[int, int]]:
    return [(i, j) for i, p in enumerate(paragraphs) for j in range(len(p))]


def _count(strength: float, units: int, share: float) -> int:
    """How many units an edit touches: ``share`` of them at full strength, always at least one."""
    return max(1, round(strength * share * units))


def _boilerplate_line(rng: random.Random, pool: tuple[str, ...]) -> str:
    if pool is FOOTERS and rng.random() < 0.35:
        return rng.choice(COPYRIGHT).format(year=rng.randint(2005, 2024), site=rng.choice(SITES))
    return rng.choice(pool)


def site_template(rng: random.Random, lines: int = 2) -> tuple[list[str], list[str]]:
    """Header and footer lines of one made-up site: different pages of one site share them."""
    n_head = rng.randint(0, lines)
    return [_boilerplate_line(rng, HEADERS) for _ in range(n_head)], [
        _boilerplate_line(rng, FOOTERS) for _ in range(max(1, lines - n_head))
    ]


def _is_boilerplate(line: str) -> bool:
    line = line.strip()
    return line in HEADERS or line in FOOTERS or bool(_YEAR.search(line) and len(line) < 80)


def change_boilerplate(text: str, rng: random.Random, strength: float = 0.3) -> str:
    """Another site template: template lines already there are swapped, else headers/footers are added."""
    lines = text.split("\n")
    if len(lines) > 1 and (_is_boilerplate(lines[0]) or _is_boilerplate(lines[-1])) and rng.random() < 0.6:
        for at, pool in ((0, HEADERS), (-1, FOOTERS)):
            if _is_boilerplate(lines[at]):
                if _YEAR.search(lines[at]) and rng.random() < 0.5:  # the same footer, next year
                    lines[at] = _YEAR.sub(lambda m: f"{m.group(1)} {int(m.group(2)) + rng.randint(1, 3)}", lines[at])
                else:
                    lines[at] = _boilerplate_line(rng, pool)
        return "\n".join(lines)
    n = 1 + (strength > 0.5) + (strength > 0.8)
    head = rng.random() < 0.5
    headers = [_boilerplate_line(rng, HEADERS) for _ in range(n if head else rng.randint(0, 1))]
    footers = [_boilerplate_line(rng, FOOTERS) for _ in range(rng.randint(0, n) if head else n)]
    return "\n".join([*headers, *lines, *footers])


def insert_sentences(text: str, rng: random.Random, donor_texts: list[str], strength: float = 0.3) -> str:
    """Sentences of other documents inserted between sentences (an added quote, an update, a caption)."""
    paragraphs = _paragraphs(text)
    donors = [d for d in (rng.choice(donor_texts) for _ in range(3)) if d != text] if donor_texts else []
    sentences = [s for d in donors for p in _paragraphs(d) for s in p if len(s.split()) >= 5]
    if not sentences:
        return text
    for _ in range(_count(strength, len(_sentence_slots(paragraphs)), 0.25)):
        i = rng.randrange(len(paragraphs))
        paragraphs[i].insert(rng.randint(0, len(paragraphs[i])), rng.choice(sentences))
    return _join(paragraphs)


def delete_sentences(text: str, rng: random.Random, strength: float = 0.3) -> str:
    """Sentences cut (an editor's shortening); at least one sentence always stays."""
    paragraphs = _paragraphs(text)
    slots = _sentence_slots(paragraphs)
    if len(slots) < 2:
        return text
    gone = set(rng.sample(slots, min(len(slots) - 1, _count(strength, len(slots), 0.25))))
    kept = [[s for j, s in enumerate(p) if (i, j) not in gone] for i, p in enumerate(paragraphs)]
    return _join([p for p, old in zip(kept, paragraphs, strict=True) if p or not old])


def _rewrite_some(text: str, pattern: re.Pattern, rng: random.Random, share: float, strength: float, edit) -> str:
    """A ``strength``-scaled share of ``pattern``'s matches replaced by ``edit(match text, rng)``, left to right."""
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    chosen = rng.sample(matches, min(len(matches), _count(strength, len(matches), share)))
    out, last = [], 0
    for m in sorted(chosen, key=lambda m: m.start()):
        out += [text[last : m.start()], edit(m.group(), rng)]
        last = m.end()
    return "".join(out) + text[last:]


def _new_digits(number: str, rng: random.Random) -> str:
    digits = list(number)
    places = [k for k, ch in enumerate(digits) if ch.isdigit()]
    for k in rng.sample(places, rng.randint(1, min(2, len(places)))):
        digits[k] = rng.choice([d for d in "0123456789" if d != digits[k]])
    if rng.random() < 0.15:  # the number grows a digit (99 → 100-like changes)
        digits.insert(0, str(rng.randint(1, 9)))
    return "".join(digits)


def change_numbers(text: str, rng: random.Random, strength: float = 0.3) -> str:
    """Digits of numbers, dates and prices changed (an updated figure); separators stay where they were."""
    return _rewrite_some(text, _NUMBER, rng, 0.6, strength, _new_digits)


def reorder(text: str, rng: random.Random, strength: float = 0.3) -> str:
    """Adjacent paragraphs or adjacent sentences swapped (a reflowed page, a moved paragraph)."""
    paragraphs = _paragraphs(text)
    real = [i for i, p in enumerate(paragraphs) if p]
    for _ in range(_count(strength, len(_sentence_slots(paragraphs)), 0.2)):
        pairs = [(i, j) for i, p in enumerate(paragraphs) for j in range(len(p) - 1)]
        if len(real) > 1 and (not pairs or rng.random() < 0.5):
            k = rng.randrange(len(real) - 1)
            a, b = real[k], real[k + 1]
            paragraphs[a], paragraphs[b] = paragraphs[b], paragraphs[a]
        elif pairs:
            i, j = rng.choice(pairs)
            paragraphs[i][j], paragraphs[i][j + 1] = paragraphs[i][j + 1], paragraphs[i][j]
        else:
            return text
    return _join(paragraphs)


def _typo(w: str, rng: random.Random) -> str:
    k = rng.randrange(len(w) - 1)
    op = rng.randrange(4)
    if op == 0:
        return w[:k] + w[k + 1] + w[k] + w[k + 2 :]
    if op == 1:
        return w[:k] + w[k + 1 :]
    if op == 2:
        return w[:k] + w[k] + w[k:]
    return w[:k] + rng.choice(_KEYBOARD) + w[k + 1 :]


def typos(text: str, rng: random.Random, strength: float = 0.3) -> str:
    """Letters swapped, dropped, doubled or hit on a neighbouring key, in a few words."""
    return _rewrite_some(text, _WORD, rng, 0.04, strength, _typo)


def whitespace(text: str, rng: random.Random, strength: float = 0.3) -> str:
    """Spaces doubled, lines re-broken, trailing spaces and blank lines: invisible to word shingles."""
    parts = re.split(r"( +|\n)", text)
    seps = [k for k in range(1, len(parts), 2)]
    if not seps:
        return text + rng.choice(["\n", " ", "\n\n"])
    for k in rng.sample(seps, min(len(seps), _count(strength, len(seps), 0.2))):
        parts[k] = rng.choice(["  ", "\n", " \n", "\t", "\n\n"]) if parts[k] != "\n" else rng.choice([" ", "\n\n"])
    return "".join(parts)


EDITS: dict[str, Callable[..., str]] = {
    "boilerplate": change_boilerplate,
    "insert": insert_sentences,
    "delete": delete_sentences,
    "numbers": change_numbers,
    "reorder": reorder,
    "typos": typos,
    "whitespace": whitespace,
}


def near_duplicate(
    text: str,
    rng: random.Random,
    donor_texts: list[str] | None = None,
    strength: float = 0.3,
    applied: list[str] | None = None,
) -> str:
    """A random mix of 1-3 edits; ``strength`` in (0, 1] scales how many edits and how much each touches.

    The result always differs from ``text`` (typos are added when the chosen edits found nothing to change);
    the names of the edits are appended to ``applied`` when given.
    """
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    out = text
    count = 1 + (rng.random() < strength) + (rng.random() < strength / 2)  # light edits come mostly alone
    for name in rng.sample(sorted(EDITS), count):
        edited = (
            EDITS[name](out, rng, donor_texts or [], strength) if name == "insert" else EDITS[name](out, rng, strength)
        )
        if edited != out and applied is not None:
            applied.append(name)
        out = edited
    if out == text:
        out = typos(text, rng, strength) if _WORD.search(text) else text + "\n" + _boilerplate_line(rng, FOOTERS)
        if applied is not None:
            applied.append("typos" if _WORD.search(text) else "boilerplate")
    return out


# ---------------------------------------------------------------------------------------- real documents
SOURCES = ("web", "ag_news", "webtext", "math", "gsm8k", "tweets")
AG_CLASSES = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}


def _web(shared: Path) -> Iterable[dict]:
    """Main text of trafilatura's 990 eval pages (our default extractor); topic: the page's language."""
    from annotators.langid import FastTextLanguageID
    from pipelines.evaluate import load_pages
    from pipelines.extract import ExtractConfig, build_extractor
    from pipelines.web import decode_body

    _, pages = load_pages(shared / "extraction" / "trafilatura_eval")
    extractor = build_extractor(ExtractConfig())
    texts, urls = [], []
    for page in pages:
        html, _ = decode_body(page["html"], None)
        try:
            text = (extractor.extract(html, page["url"]) or "").strip()
        except Exception:  # noqa: BLE001 - a page trafilatura cannot parse is simply not a document
            text = ""
        if text:
            texts.append(text)
            urls.append(page["url"])
    model = shared / "langid" / "lid.176.ftz"
    langid = FastTextLanguageID(str(model) if model.is_file() else None)
    langs = langid.annotate(texts)["lang"] if texts else []
    for text, url, lang in zip(texts, urls, langs, strict=True):
        yield {"text": text, "topic": f"web/{lang}", "source": "trafilatura_eval", "lang": lang, "url": url}


def _ag_news(shared: Path) -> Iterable[dict]:
    with open(shared / "classify" / "ag_news" / "sample.csv", newline="", encoding="utf-8") as f:
        for label, title, description in csv.reader(f):
            description = description.replace(" #39;", "'").replace("\\", " ").strip()
            text = f"{title.strip()}\n{description}"
            yield {"text": text, "topic": f"news/{AG_CLASSES.get(label, label)}", "source": "ag_news", "lang": "en"}


def _webtext(shared: Path) -> Iterable[dict]:
    for path in sorted((shared / "webtext").glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                doc = json.loads(line)
                yield {"text": doc["text"], "topic": "webtext", "source": "webtext", "lang": "en", "url": doc["id"]}


def _math(shared: Path) -> Iterable[dict]:
    with open(shared / "math_code" / "math" / "math_test.json", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            yield {
                "text": f"{doc['problem']}\n\n{doc['solution']}",
                "topic": f"math/{doc['type']}",
                "source": "math",
                "lang": "en",
            }


def _gsm8k(shared: Path) -> Iterable[dict]:
    with open(shared / "math_code" / "gsm8k" / "gsm8k_test.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            yield {"text": f"{doc['question']}\n\n{doc['answer']}", "topic": "gsm8k", "source": "gsm8k", "lang": "en"}


def _tweets(shared: Path) -> Iterable[dict]:
    root = shared / "classify" / "tweeteval"
    for task in ("hate", "offensive"):
        for split in ("train", "val"):
            texts = (root / task / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
            labels = (root / task / f"{split}_labels.txt").read_text(encoding="utf-8").splitlines()
            for text, label in zip(texts, labels, strict=True):
                yield {"text": text.strip(), "topic": f"tweets/{task}/{label}", "source": "tweeteval", "lang": "en"}


_LOADERS = {"web": _web, "ag_news": _ag_news, "webtext": _webtext, "math": _math, "gsm8k": _gsm8k, "tweets": _tweets}


def load_real_documents(
    shared_dir: str | Path, sources: Iterable[str] = SOURCES, min_words: int = 0, distinct: bool = True
) -> list[dict]:
    """Real documents as ``{id, text, topic, source, lang, url}``; ``topic`` groups documents for hard negatives.

    With ``distinct``, documents that are already near-duplicates of an earlier one are left out (see
    `drop_near_duplicates`), so that the only duplicates in anything built from them are the planted ones.
    """
    shared = Path(shared_dir)
    docs = []
    for name in sources:
        if name not in _LOADERS:
            raise ValueError(f"unknown source {name!r}; choose from {', '.join(SOURCES)}")
        for i, doc in enumerate(_LOADERS[name](shared)):
            if doc["text"] and len(doc["text"].split()) >= min_words:
                docs.append({"id": f"{name}-{i:05d}", "url": None, **doc})
    return drop_near_duplicates(docs) if distinct else docs


def drop_near_duplicates(docs: list[dict], threshold: float = 0.4) -> list[dict]:
    """Docs minus those whose word-3-gram Jaccard with an earlier one reaches ``threshold``.

    Deliberately more sensitive than the dedup under test (3-grams instead of 5, candidates from 32 bands
    of 2 rows: a pair at Jaccard 0.4 is a candidate with probability 0.996), and exact on every candidate.
    """
    from pipelines.dedup.minhash import MinHashConfig, MinHasher, jaccard

    hasher = MinHasher(MinHashConfig(ngram=3, bands=32, rows=2))
    shingles = [hasher.shingles(d["text"], d.get("lang")) for d in docs]
    nodes = [i for i, s in enumerate(shingles) if s is not None]
    if not nodes:
        return docs
    keys = hasher.band_keys(hasher.signatures([shingles[i].hashes for i in nodes]))
    nodes_arr = np.asarray(nodes)
    checked: set[tuple[int, int]] = set()
    dropped: set[int] = set()
    for band in range(keys.shape[1]):
        order = np.lexsort((nodes_arr, keys[:, band]))
        sorted_keys, members = keys[order, band], nodes_arr[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1], True])
        for lo, hi in zip(starts[:-1], starts[1:], strict=True):
            if hi - lo < 2:
                continue
            group = members[lo:hi].tolist()
            # big buckets (a shared "@user @user" opening) compare neighbours only, not every pair
            pairs = (
                [(a, b) for k, a in enumerate(group) for b in group[k + 1 :]]
                if len(group) <= 40
                else list(zip(group, group[1:], strict=False))
            )
            for a, b in pairs:
                if (a, b) in checked or a in dropped or b in dropped:
                    continue
                checked.add((a, b))
                if jaccard(shingles[a].hashes, shingles[b].hashes) >= threshold:
                    dropped.add(b)
    return [d for i, d in enumerate(docs) if i not in dropped]
