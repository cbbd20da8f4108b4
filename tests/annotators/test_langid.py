from annotators.langid import FastTextLanguageID, bundled_lid176
from corpusforge.errors import Drop
from corpusforge.record import Record
from pipelines.label import LangIdConfig, LanguageStage


def test_bundled_model_labels_languages():
    assert bundled_lid176().endswith("lid.176.ftz")
    out = FastTextLanguageID().annotate(
        [
            "The weather is lovely today and we are going to the beach.",
            "Der Hund läuft schnell über die Wiese.",
            "我们今天去北京参观故宫。",
            "Сегодня мы идём в музей.",
        ]
    )
    assert out["lang"] == ["en", "de", "zh", "ru"]
    assert all(0.5 < s <= 1.0 for s in out["lang_score"])


def test_stage_applies_per_language_thresholds_and_allow_list():
    rec = lambda text: Record(id="a", text=text, source="web")  # noqa: E731
    en = "The weather is lovely today and we are going to the beach with friends."
    strict = LanguageStage(LangIdConfig(thresholds={"en": 0.9999}))
    try:
        strict.apply(rec(en))
        raise AssertionError("expected a drop")
    except Drop as drop:
        assert drop.reason == "lang_low_score"
    kept = LanguageStage(LangIdConfig(thresholds={"en": 0.1})).apply(rec(en))
    assert kept.lang == "en" and kept.meta["annotator.langid"] == "lid176-1"
    try:
        LanguageStage(LangIdConfig(languages=["de"])).apply(rec(en))
        raise AssertionError("expected a drop")
    except Drop as drop:
        assert drop.reason == "lang_not_wanted"
