"""Grouping what customers wrote into themes: the machine's first draft of the affinity
diagram, which people then correct on the board.

Each comment becomes a vector: by default its TF-IDF weights reduced by truncated SVD (latent
semantic analysis) and normalised, so that comments using related words lie close together;
with the `[embeddings]` extra installed, and without being asked, a sentence embedding from
the packaged all-MiniLM-L6-v2 model (`embeddings.py`; nothing is downloaded) with that LSA
vector beside it. K-means then draws the themes; without a number of themes the silhouette
of the LSA vectors over a small range picks one. Each theme is labelled by its most telling
words: the heaviest TF-IDF terms of its comments' mean.

On a later run the existing themes stay as they are (every comment keeps its place, so a
person's corrections are never undone) and each new comment joins the theme whose centre
(the mean of its comments) lies nearest. Only labels no person chose are brought up to date.
This module computes; `services.comments_group` writes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import numpy as np
from django.utils import timezone

from crm_scorecard.crm.models import Complaint, Feedback

from . import embeddings as minilm
from .models import CommentKind

SOURCES = ("feedback", "complaints", "all")
DEFAULT_PIPELINE = "tf-idf + lsa"
EMBEDDINGS_PIPELINE = "all-MiniLM-L6-v2 embeddings + lsa"
WORDS_WEIGHT = 0.75  # the words' share beside the meaning (embeddings pipeline)
K_RANGE = (2, 12)  # themes tried when the number is not given
SAMPLE = 2000  # comments the number of themes is chosen on (silhouette is quadratic)
LABEL_WORDS = 3
STEPS = 4  # progress steps: vectors, number of themes, clusters, labels

Progress = Callable[[int], object]


@dataclass(frozen=True)
class Comment:
    """A text a customer wrote, and where it comes from."""

    kind: str
    pk: int
    text: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.pk)


def comments_load(*, source: str = "all", since: date | None = None) -> list[Comment]:
    """Feedback comments and complaint descriptions that say something, oldest first."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    start = (
        timezone.make_aware(datetime.combine(since, time.min), timezone.get_current_timezone())
        if since
        else None
    )
    found: list[Comment] = []
    if source in ("feedback", "all"):
        qs = Feedback.objects.exclude(comment="").order_by("submitted_at", "pk")
        if start:
            qs = qs.filter(submitted_at__gte=start)
        found += [
            Comment(CommentKind.FEEDBACK, pk, text)
            for pk, text in qs.values_list("pk", "comment").iterator(chunk_size=10_000)
            if text.strip()
        ]
    if source in ("complaints", "all"):
        qs2 = Complaint.objects.exclude(description="").order_by("opened_at", "pk")
        if start:
            qs2 = qs2.filter(opened_at__gte=start)
        found += [
            Comment(CommentKind.COMPLAINT, pk, text)
            for pk, text in qs2.values_list("pk", "description").iterator(chunk_size=10_000)
            if text.strip()
        ]
    return found


def tfidf(texts: Sequence[str]) -> tuple[Any, np.ndarray]:
    """The TF-IDF matrix (rows: texts) and its terms. Rare words (in one comment of
    a thousand or more) and words in most comments say little about a theme."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(texts)
    vectorizer = TfidfVectorizer(
        stop_words="english",
        sublinear_tf=True,
        min_df=2 if n >= 1000 else 1,
        max_df=0.5 if n >= 50 else 1.0,
        max_features=100_000,
        dtype=np.float32,
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # nothing but stop words
        vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float32)
        matrix = vectorizer.fit_transform(texts)
    return matrix, vectorizer.get_feature_names_out()


def lsa(matrix: Any, *, components: int = 100) -> np.ndarray:
    """Latent semantic analysis: TF-IDF reduced to `components` dimensions (for few comments,
    about one per ten: more would keep each comment's own words apart rather than the
    topics they share), rows of length 1."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    k = min(components, max(2, matrix.shape[0] // 10), matrix.shape[1] - 1)
    if k < 2:
        return np.asarray(normalize(matrix).toarray(), dtype=np.float32)
    reduced = TruncatedSVD(n_components=k, random_state=0).fit_transform(matrix)
    return np.asarray(normalize(reduced), dtype=np.float32)


def meaning_and_words(meaning: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Sentence embeddings beside the LSA vectors of the same comments (weighted by
    WORDS_WEIGHT), rows of length 1. The embedding knows that "never arrived" and "still
    waiting" mean the same; the words keep apart what a topic's own vocabulary names (a
    drug, a product, a place), which a general model of English blurs. On the labelled
    reviews of `bench/voc.py` the pair separates topics better than either alone."""
    from sklearn.preprocessing import normalize

    both = np.hstack([meaning, WORDS_WEIGHT * words])
    return np.asarray(normalize(both), dtype=np.float32)


def choose_k(vectors: np.ndarray, *, low: int = K_RANGE[0], high: int = K_RANGE[1]) -> int:
    """The number of themes whose k-means clusters are best separated (highest silhouette),
    judged on a sample of the comments. A split that leaves a theme of one comment (or of
    under 2% of them) is no theme: a comment sharing no word with the others sits apart
    and would otherwise win a theme of its own."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(vectors)
    if n < 3:
        return 1
    if n > SAMPLE:
        rows = np.random.default_rng(0).choice(n, SAMPLE, replace=False)
        vectors = vectors[rows]
        n = SAMPLE
    smallest = max(2, round(0.02 * n))
    # k-means cannot make more clusters than there are different points (it warns and
    # makes fewer): repeated comments cap the themes tried
    distinct = len(np.unique(vectors, axis=0))
    best, best_score = 1, -1.0
    for k in range(low, min(high, n - 1, distinct) + 1):
        labels = KMeans(n_clusters=k, n_init=2, random_state=0).fit_predict(vectors)
        if np.bincount(labels, minlength=k).min() < smallest:
            continue
        score = float(silhouette_score(vectors, labels, metric="cosine"))
        if score > best_score + 1e-9:
            best, best_score = k, score
    return best


def cluster(vectors: np.ndarray, k: int) -> np.ndarray:
    """Each comment's theme number (0..k-1), by k-means."""
    from sklearn.cluster import KMeans

    n = len(vectors)
    k = max(1, min(k, n))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    n_init = 10 if n <= 20_000 else 3
    return np.asarray(KMeans(n_clusters=k, n_init=n_init, random_state=0).fit_predict(vectors))


def describe(matrix: Any, terms: np.ndarray, rows: np.ndarray, *, words: int = LABEL_WORDS) -> str:
    """A label from the heaviest TF-IDF terms of these comments' mean."""
    if len(rows) == 0:
        return "(empty)"
    weights = np.asarray(matrix[rows].mean(axis=0)).ravel()
    top = [int(i) for i in np.argsort(-weights, kind="stable")[:words] if weights[i] > 0]
    return " / ".join(str(terms[i]) for i in top) or "(no words)"


def unique_labels(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


@dataclass
class Plan:
    """What a grouping run decided: new themes (label, comments), new comments placed into
    existing themes, fresh labels for themes no person named, and how it was done."""

    pipeline: str
    new_themes: list[tuple[str, list[Comment]]] = field(default_factory=list)
    placed: dict[int, list[Comment]] = field(default_factory=dict)
    relabel: dict[int, str] = field(default_factory=dict)

    @property
    def new_comments(self) -> int:
        return sum(len(c) for _, c in self.new_themes) + sum(len(c) for c in self.placed.values())


def plan(
    comments: Sequence[Comment],
    *,
    existing: dict[tuple[str, int], int],
    named: set[int],
    themes: int | None = None,
    embeddings: bool | None = None,
    progress: Progress = lambda n: None,
) -> Plan:
    """Group `comments`. `existing` maps comments already on the diagram to their theme;
    `named` are the themes whose label a person chose. Without existing themes, k-means
    draws `themes` themes (or as many as the silhouette prefers); with them, new comments
    join the nearest theme. `embeddings`: None uses the extra when installed."""
    texts = [c.text for c in comments]
    matrix, terms = tfidf(texts) if texts else (None, np.array([]))
    embed = minilm.embedder() if embeddings is not False else None
    if embeddings and embed is None:
        raise RuntimeError(
            "the [embeddings] extra is not installed: pip install 'crm-scorecard[embeddings]'"
        )
    result = Plan(pipeline=EMBEDDINGS_PIPELINE if embed else DEFAULT_PIPELINE)
    if not texts:
        progress(STEPS)
        return result
    words = lsa(matrix)
    vectors = meaning_and_words(embed(texts), words) if embed else words
    progress(1)
    theme_of = np.array([existing.get(c.key, -1) for c in comments], dtype=np.int64)
    fresh = np.flatnonzero(theme_of < 0)
    known = sorted({int(t) for t in theme_of if t >= 0})
    if not known:
        # The number of themes is judged on the words alone, for both pipelines: among
        # sentence embeddings the silhouette falls steadily as themes are added (they spread
        # smoothly), so it would always pick two (bench/voc.py).
        k = themes or choose_k(words)
        # No more themes than different comments: k-means cannot split identical texts
        # (nor unit vectors a rounding error apart: to 4 decimals, as the same).
        k = max(1, min(k, len(np.unique(np.round(vectors, 4), axis=0))))
        progress(1)
        labels = cluster(vectors, k)
        progress(1)
        groups = [np.flatnonzero(labels == j) for j in range(int(labels.max()) + 1)]
        groups = [g for g in groups if len(g)]
        names = unique_labels([describe(matrix, terms, g) for g in groups])
        result.new_themes = [
            (name, [comments[int(i)] for i in g]) for name, g in zip(names, groups, strict=True)
        ]
        progress(1)
        return result
    progress(1)
    centres = np.stack([vectors[theme_of == t].mean(axis=0) for t in known])
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    if len(fresh):
        nearest = np.argmax(vectors[fresh] @ centres.T, axis=1)
        for i, j in zip(fresh, nearest, strict=True):
            theme_of[i] = known[int(j)]
            result.placed.setdefault(known[int(j)], []).append(comments[int(i)])
    progress(1)
    for t in known:
        if t not in named:
            result.relabel[t] = describe(matrix, terms, np.flatnonzero(theme_of == t))
    progress(1)
    return result
