"""What the served model's card (``GET /model``) says the dashboard needs: the problem type, the classes, and
the input schema the upload is checked against."""

from __future__ import annotations

from .problems import PROBLEMS
from .schema import Schema


def problem_of(card: dict | None) -> str:
    """The problem type of the model on ``card`` (binary when the card predates the field)."""
    card = card or {}
    problem = card.get("problem") or (card.get("input_schema") or {}).get("problem") or "binary"
    return problem if problem in PROBLEMS else "binary"


def classes_of(card: dict | None) -> list[str]:
    """The model's classes in the API's order (empty for regression)."""
    card = card or {}
    return [str(c) for c in card.get("classes") or (card.get("input_schema") or {}).get("classes") or []]


def problem_text(card: dict) -> str:
    """The problem type as the card says it, with the classes of a multiclass model (at most 8 named)."""
    problem = problem_of(card)
    if problem != "multiclass":
        return problem
    classes = classes_of(card)
    named = ", ".join(classes[:8]) + (", …" if len(classes) > 8 else "")
    return f"multiclass, {len(classes)} classes: {named}" if classes else "multiclass"


def schema_of(card: dict | None) -> Schema | None:
    """The served model's input schema from its card (None when the card has none this package can read)."""
    try:
        return Schema.from_dict((card or {})["input_schema"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
