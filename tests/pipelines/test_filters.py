import pytest

from corpusforge.errors import ConfigError, Drop
from corpusforge.record import Record
from pipelines.filters import (
    C4Config,
    C4Filter,
    FiltersConfig,
    FineWebConfig,
    FineWebFilter,
    GopherQualityConfig,
    GopherQualityFilter,
    GopherRepetitionConfig,
    GopherRepetitionFilter,
    UrlBlocklistConfig,
    UrlBlocklistFilter,
    build_filters,
)

PROSE = (
    "The river that runs through the old town has shaped the lives of the people who live there for centuries. "
    "Farmers brought their goods to the market by boat, and the bridges that cross the water are still used today. "
    "In the spring the water rises and the fields along the banks turn green with new grass. "
    "Visitors come to walk along the paths and to see the mills that once ground the grain for the whole valley. "
    "The town council has worked with local groups to keep the river clean and to protect the birds that nest there.\n"
)
PROSE_2 = (
    "Each autumn the school holds a fair where children show the projects they have worked on during the year. "
    "Parents and teachers walk between the tables and ask questions about the plants, machines and paintings. "
    "The best work is sent to a regional show, where it is judged by people from the university nearby.\n"
)
CHINESE = (
    "北京是中华人民共和国的首都，也是全国的政治中心和文化中心。这座城市有三千多年的建城史，"
    "保存了许多古代建筑，例如故宫、天坛和颐和园。每年都有大量游客来到这里参观。"
    "近年来，北京的交通网络不断完善，地铁线路已经覆盖了城市的大部分地区。\n"
)


def _rec(text, lang="en", url="https://example.org/page"):
    return Record(id="x", text=text, source="web", url=url, lang=lang, lang_score=0.99)


def test_good_prose_passes_every_filter():
    rec = _rec(PROSE + "\n" + PROSE_2)
    for stage in build_filters(FiltersConfig(c4=C4Config(filter_curly_bracket=False))):
        rec = stage.apply(rec)
    assert "river" in rec.text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Too short to be a page.", "gopher_short_doc"),
        ("# " * 30 + PROSE, "gopher_too_many_hashes"),
        ("\n".join(["- item number one in the list of things"] * 20) + "\n" + "word " * 5, "gopher_too_many_bullets"),
        ("1234 5678 9012 3456 " * 40 + "the and of to with", "gopher_below_alpha_ratio"),
        ("Nous avons mangé une pomme verte ce matin avant de partir au travail. " * 10, "gopher_few_stop_words"),
    ],
)
def test_gopher_quality_reasons(text, reason):
    assert GopherQualityFilter(GopherQualityConfig()).filter(_rec(text)) == (False, reason)


def test_chinese_is_measured_in_characters_not_dropped_for_too_few_words():
    gopher = GopherQualityFilter(GopherQualityConfig())
    # about 110 characters but only a handful of whitespace-separated "words"
    assert len(CHINESE.split()) < 5
    assert gopher.filter(_rec(CHINESE, lang="zh")) is True
    assert FineWebFilter(FineWebConfig()).filter(_rec(CHINESE, lang="zh")) is True
    # the same rule still drops genuinely short Chinese text
    assert gopher.filter(_rec("北京是首都。", lang="zh")) == (False, "gopher_short_doc")


def test_repetition_reasons():
    rep = GopherRepetitionFilter(GopherRepetitionConfig())
    assert rep.filter(_rec((PROSE + "\n") * 4)) == (False, "gopher_dup_para_frac")
    assert rep.filter(_rec("buy cheap shoes now " * 60)) in {
        (False, "gopher_top_2_gram"),
        (False, "gopher_dup_line_char_frac"),
        (False, "gopher_dup_5_gram"),
    }
    assert rep.filter(_rec(PROSE)) is True


def test_c4_removes_lines_and_drops_with_reasons():
    c4 = C4Filter(C4Config())
    text = PROSE + "Please enable JavaScript to view this site.\nShare this\nRead our privacy policy here.\n"
    out = c4.apply(_rec(text))
    assert "JavaScript" not in out.text and "Share this" not in out.text and "privacy" not in out.text
    with pytest.raises(Drop) as drop:
        c4.apply(_rec(PROSE + "Lorem ipsum dolor sit amet."))
    assert drop.value.reason == "c4_lorem_ipsum"
    with pytest.raises(Drop) as drop:
        c4.apply(_rec("One sentence only. Two sentences."))
    assert drop.value.reason == "c4_too_few_sentences"


def test_fineweb_reasons():
    fw = FineWebFilter(FineWebConfig())
    assert fw.filter(_rec("\n".join(["menu item without punctuation"] * 30))) == (False, "fineweb_line_punct_ratio")
    assert fw.filter(_rec("\n".join(f"Line {i}." for i in range(50)))) == (False, "fineweb_short_line_ratio")


def test_url_blocklist(tmp_path):
    listing = tmp_path / "blocked.txt"
    listing.write_text("# adult hosts\nbad.example\n")
    flt = UrlBlocklistFilter(
        UrlBlocklistConfig(domains=["spam.test"], domains_file=str(listing), banned_words=["casino"])
    )
    assert flt.filter(_rec(PROSE, url="https://www.spam.test/x")) == (False, "url_blocklist_domain")
    assert flt.filter(_rec(PROSE, url="http://bad.example/")) == (False, "url_blocklist_domain")
    assert flt.filter(_rec(PROSE, url="https://news.org/online-casino-guide")) == (False, "url_blocklist_word")
    assert flt.filter(_rec(PROSE, url="https://notbad.example.org/")) is True
    with pytest.raises(ConfigError) as err:
        UrlBlocklistFilter(UrlBlocklistConfig(domains_file=str(tmp_path / "missing.txt")))
    assert err.value.field == "filters.url_blocklist.domains_file"
