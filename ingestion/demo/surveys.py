"""Survey records and how a customer's satisfaction becomes a score and a comment."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ingestion.demo import vocab
from ingestion.demo.params import Params


@dataclass
class Invitation:
    survey_type: str
    touchpoint: str
    channel: str
    customer: int
    related: tuple[str, int] | None  # ("order" | "ticket", internal reference)
    sent_at: int


@dataclass
class Response:
    invitation: int | None  # index into the invitation list
    survey_type: str
    touchpoint: str
    responded_at: int
    is_anonymous: bool
    respondent_email: str | None = None
    penalty: float = 0.0  # how much worse than satisfaction alone the experience was
    theme_hint: str | None = None  # what a comment about this experience is most likely about
    score: int = 0
    comment: str | None = None


def score(r: random.Random, params: Params, survey_type: str, satisfaction: float, penalty: float) -> int:
    """NPS 0-10 or CSAT/CES 1-5 (CES: 5 = very easy), rising with satisfaction.

    `penalty` (five-point surveys only) lowers the score for a bad experience on top of satisfaction.
    """
    if survey_type == "NPS":
        raw = params.nps_mean + params.nps_sat_slope * satisfaction + r.gauss(0, params.nps_noise)
        return int(min(10, max(0, round(raw))))
    raw = params.five_mean + params.five_sat_slope * satisfaction - penalty + r.gauss(0, params.five_noise)
    return int(min(5, max(1, round(raw))))


def tone(survey_type: str, value: int) -> str:
    high, low = (9, 6) if survey_type == "NPS" else (4, 2)
    return "positive" if value >= high else "negative" if value <= low else "neutral"


def comment(r: random.Random, survey_type: str, value: int, touchpoint: str, theme_hint: str | None) -> str:
    """One or two template sentences whose tone matches the score, about themes typical of the touchpoint."""
    mood = tone(survey_type, value)
    themes = list(vocab.THEMES)
    first = (
        theme_hint
        if theme_hint and r.random() < 0.6
        else r.choices(themes, vocab.THEME_WEIGHTS[touchpoint])[0]
    )
    parts = [r.choice(vocab.COMMENTS[first][mood])]
    if r.random() < 0.25:
        second = r.choice([t for t in themes if t != first])
        parts.append(r.choice(vocab.COMMENTS[second][mood]))
    return " ".join(parts)


def finish(r: random.Random, params: Params, response: Response, satisfaction: float) -> None:
    response.score = score(r, params, response.survey_type, satisfaction, response.penalty)
    if r.random() < params.comment_share:
        response.comment = comment(
            r, response.survey_type, response.score, response.touchpoint, response.theme_hint
        )
