"""Sentiment of customer feedback text with VADER.

VADER (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis of
Social Media Text") scores a text from a lexicon of word valences (-4..+4) and rules for negation,
intensifiers ("very"), "but" and punctuation. Its `compound` score is the normalised sum, -1..+1;
the authors' thresholds call a text positive at >= 0.05 and negative at <= -0.05. The lexicon ships
with the package, so scoring runs offline.

The stock lexicon comes from social media and leaves words that carry the tone of product and
service feedback ("slow", "bugs", "expensive") neutral; `analyzer` adds (or overrides) such words
from a small domain lexicon (the `sentiment_lexicon` seed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05


def analyzer(domain_lexicon: Mapping[str, float] | None = None) -> SentimentIntensityAnalyzer:
    """VADER with its own lexicon, plus (taking precedence) the given word valences."""
    vader = SentimentIntensityAnalyzer()
    vader.lexicon.update(
        {word.strip().lower(): float(valence) for word, valence in (domain_lexicon or {}).items()}
    )
    return vader


def compound_scores(texts: Iterable[str], vader: SentimentIntensityAnalyzer) -> list[float]:
    """VADER's compound score (-1..+1) of each text, in order."""
    return [float(vader.polarity_scores(text)["compound"]) for text in texts]


def sentiment_label(
    compound: float,
    positive_threshold: float = POSITIVE_THRESHOLD,
    negative_threshold: float = NEGATIVE_THRESHOLD,
) -> str:
    """positive, negative or neutral by VADER's thresholds (both bounds inclusive)."""
    if compound >= positive_threshold:
        return "positive"
    if compound <= negative_threshold:
        return "negative"
    return "neutral"
