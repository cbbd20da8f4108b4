"""The label taxonomy: web topics, document formats and academic fields, with the descriptions teachers see.

Topics follow the spirit of WebOrganizer's 24 topic domains (Wettig et al., 2025); formats are how a page is
written, not what it is about; academic fields apply to STEM text only. Names are stable identifiers: models
and shard cells use them, so renaming one is a breaking change. Language-neutral: a page in any language gets
the same label set.
"""

from __future__ import annotations

TOPICS: dict[str, str] = {
    "adult": "sexual content, pornography, escort services",
    "art_design": "visual arts, architecture, design, photography, crafts",
    "crime_law": "law, legal matters, courts, crime, police",
    "education_jobs": "schools, teaching, studying, careers, job offers",
    "electronics_hardware": "computers, phones, gadgets, hardware reviews",
    "entertainment": "films, TV, music, celebrities, games, pop culture",
    "social_life": "relationships, dating, parenting, family, friends",
    "fashion_beauty": "clothing, fashion, cosmetics, beauty care",
    "finance_business": "money, investing, banking, companies, markets, business news",
    "food_dining": "recipes, cooking, restaurants, drinks",
    "games": "video games, board games, puzzles, gambling",
    "health": "medicine, diseases, fitness, mental health, nutrition",
    "history_geography": "history, historical events, places, geography",
    "home_hobbies": "home improvement, gardening, pets, collecting, hobbies",
    "industrial": "manufacturing, engineering industry, energy, agriculture, logistics",
    "literature": "books, poetry, fiction, writing, literary criticism",
    "politics": "government, elections, policy, political opinion, international relations",
    "religion": "religion, spirituality, faith, theology",
    "science_tech": "natural sciences, mathematics, research, technology explained",
    "software_dev": "programming, software engineering, code, developer tools",
    "software": "software products, apps, IT usage and support",
    "sports_fitness": "sports, athletes, matches, outdoor activities",
    "transportation": "cars, aviation, public transport, shipping",
    "travel_tourism": "travel, tourism, hotels, destinations",
}

FORMATS: dict[str, str] = {
    "article": "a news or magazine article, a blog post, an essay",
    "tutorial": "instructions, a how-to, a recipe, a tutorial or course material",
    "reference": "an encyclopedia entry, documentation, a dictionary or a FAQ",
    "academic": "a research paper, thesis, abstract or textbook text",
    "discussion": "a forum thread, comments, questions and answers, a chat",
    "commercial": "a product page, an advertisement, a shop listing, a company's self-presentation",
    "listing": "a directory, an index, a table of links, search results, a catalogue",
    "legal_boilerplate": "terms of service, a privacy policy, a licence, a legal notice",
    "creative": "fiction, poetry, song lyrics, a personal story",
    "other": "anything else",
}

#: academic fields for STEM text (arXiv-like top level); "none" when the text is not STEM
FIELDS: dict[str, str] = {
    "mathematics": "pure and applied mathematics, statistics",
    "computer_science": "computer science, algorithms, machine learning",
    "physics": "physics, astronomy",
    "chemistry": "chemistry, materials science",
    "biology": "biology, genetics, ecology",
    "medicine": "clinical and biomedical science",
    "earth_science": "geology, climate, oceanography",
    "engineering": "electrical, mechanical, civil and other engineering",
    "economics": "quantitative economics, finance theory",
    "none": "not STEM text",
}

#: FineWeb-Edu's additive rubric: a page earns one point per criterion it meets (0-5)
EDU_RUBRIC = (
    "Add 1 point if the extract provides some basic information relevant to educational topics, even if it "
    "includes some irrelevant or non-academic content like advertisements.",
    "Add another point if the extract addresses certain elements pertinent to education but does not align "
    "closely with educational standards; it might mix educational content with non-educational material.",
    "Award a third point if the extract is appropriate for educational use and introduces key concepts "
    "relevant to school curricula; it is coherent though it may not be comprehensive.",
    "Grant a fourth point if the extract is highly relevant and beneficial for educational purposes at grade "
    "school level, with a clear and consistent writing style, similar to a chapter from a textbook.",
    "Bestow a fifth point if the extract is outstanding in its educational value, perfectly suited for "
    "teaching at primary or grade school, with detailed reasoning and no non-educational content.",
)

#: fields that count as STEM when a cell groups documents coarsely
STEM_TOPICS = frozenset({"science_tech", "software_dev", "electronics_hardware", "health", "industrial"})


def edu_bucket(score: float | None) -> str:
    """Shard cells group the 0-5 score coarsely: low (< 2), mid (2-3), high (>= 3)."""
    if score is None:
        return "unknown"
    return "high" if score >= 3 else "mid" if score >= 2 else "low"
