"""The lesson's frame: a step is a question for the class, its choices, and a function that computes
the answer now (from the library or the shipped results). `lesson_step` registers one; the steps
module holds the paper's argument, in order. No Streamlit here: the page and `arelu lesson` both
read these."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import ConfigError


@dataclass
class Answer:
    headline: str                       # one sentence: what the numbers say
    correct: str | None = None          # the choice the numbers pick (None: they pick none, or no data yet)
    facts: list[str] = field(default_factory=list)   # the numbers behind it, one line each
    data: dict = field(default_factory=dict)         # what the page draws (tables, curves, maps)
    available: bool = True              # False: the results this step reads are not shipped yet


@dataclass(frozen=True)
class Step:
    key: str                            # stable name: the page's renderer and the tests find a step by it
    title: str
    question: str
    choices: tuple[str, ...]
    compute: Callable[..., Answer]      # keyword arguments: the step's live widget's values
    defaults: dict                      # those values before the class touches the widget

    def answer(self, **params) -> Answer:
        return self.compute(**{**self.defaults, **params})


STEPS: list[Step] = []


def lesson_step(key: str, title: str, question: str, choices: tuple[str, ...], **defaults):
    """Register the decorated answer function as the next step of the lesson."""
    def register(compute: Callable[..., Answer]) -> Callable[..., Answer]:
        if any(step.key == key for step in STEPS):
            raise ValueError(f"lesson step {key!r} registered twice")
        STEPS.append(Step(key, title, question, tuple(choices), compute, dict(defaults)))
        return compute
    return register


def step_count() -> int:
    return len(STEPS)


def get_step(number: int) -> Step:
    """Step `number`, 1-based; a ConfigError (one line) outside 1..n."""
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= len(STEPS):
        raise ConfigError(f"the lesson has steps 1 to {len(STEPS)}, not {number!r}")
    return STEPS[number - 1]


def parse_step(raw) -> tuple[int, str | None]:
    """A step number from a URL's ?step= value: (number, None), or (1, a note saying why not) for a
    missing, non-numeric or out-of-range value, so a hand-edited link still opens the lesson."""
    if raw is None or raw == "":
        return 1, None
    text = str(raw).strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= len(STEPS):
        return int(text), None
    shown = text if len(text) <= 20 else text[:20] + "…"
    return 1, f"There is no step “{shown}” in this lesson (steps 1 to {len(STEPS)}): showing step 1."


def step_text(number: int, answer: Answer | None = None) -> str:
    """One step as the CLI prints it: the question, its choices, then the answer computed now."""
    step = get_step(number)
    answer = answer or step.answer()
    lines = [f"Step {number} of {len(STEPS)}: {step.title}", f"  Question: {step.question}"]
    lines += [f"    {chr(ord('a') + i)}) {choice}" for i, choice in enumerate(step.choices)]
    lines.append(f"  Answer (computed now): {answer.headline}")
    if answer.correct is not None:
        lines.append(f"  The numbers pick: {answer.correct}")
    lines += [f"    - {fact}" for fact in answer.facts]
    return "\n".join(lines)


def step_json(number: int, answer: Answer | None = None) -> dict:
    step = get_step(number)
    answer = answer or step.answer()
    return {"step": number, "key": step.key, "title": step.title, "question": step.question,
            "choices": list(step.choices), "available": answer.available, "answer": answer.headline,
            "correct": answer.correct, "facts": answer.facts}
