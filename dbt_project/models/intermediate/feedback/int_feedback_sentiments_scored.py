"""The sentiment of each distinct feedback text, scored once with VADER (lib/text_feedback.py).

Texts repeat (templated answers, "Thanks!"), so each distinct text is scored once and the SQL
models join the score back to every row that carries it. The label thresholds come from the vars
`sentiment_positive_threshold` and `sentiment_negative_threshold` through this model's `meta`,
because a Python model cannot call `var()`.
"""

from __future__ import annotations

import pandas as pd
import text_feedback as tf


def model(dbt, session) -> pd.DataFrame:
    positive = float(dbt.config.meta_get("sentiment_positive_threshold"))
    negative = float(dbt.config.meta_get("sentiment_negative_threshold"))
    texts = dbt.ref("int_feedback_texts_unioned").project("text").distinct().order("text").df()["text"]
    lexicon = dbt.ref("sentiment_lexicon").df()
    vader = tf.analyzer(dict(zip(lexicon["word"], lexicon["valence"], strict=True)))
    scores = tf.compound_scores(texts, vader)
    return pd.DataFrame(
        {
            "text": texts,
            "sentiment_score": scores,
            # typed, so that no texts (an empty lake) still give a varchar column
            "sentiment_label": pd.Series(
                [tf.sentiment_label(score, positive, negative) for score in scores], dtype="str"
            ),
        }
    )
