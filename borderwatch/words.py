"""The words every page, layer and export uses: counts with their noun, ages, where data came from."""
from __future__ import annotations


def plural(n: int | float, word: str, words: str | None = None) -> str:
    """``1 incident``, ``2 incidents``, ``1,234 incidents``."""
    n = int(n)
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def age_words(seconds: float) -> str:
    """How old something is: ``45 s``, ``12 min``, ``3.5 h``, ``4 days``."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def dataset_label(dataset: str | None) -> str:
    """Where rows came from, in words: ``imported file incidents_2026``, ``feed cot``,
    ``synthetic scenario``."""
    if not dataset:
        return "unlabelled"
    if dataset == "scenario":
        return "synthetic scenario"
    kind, _, name = dataset.partition(":")
    return {"import": f"imported file {name}", "feed": f"feed {name}"}.get(kind, dataset)
