"""Age brackets: the one place the metrics engine's `age_bracket` dimension, the customer
profile and saved segments take them from."""

# (upper age limit, label), youngest first; anyone older is OLDEST.
AGE_BRACKETS = ((25, "under 25"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))
OLDEST = "65+"
AGE_LABELS = (*(label for _, label in AGE_BRACKETS), OLDEST)
