"""The lesson: the paper's argument in steps, each a question for the class and an answer computed now.

    step = get_step(3)                 -> Step: title, question, choices, defaults
    answer = step.answer(**params)     -> Answer: headline, the choice the numbers pick, facts, data to draw
    number, note = parse_step("9")     -> (1, "There is no step “9” ...") for a bad ?step= value
    print(step_text(3))                -> what `arelu lesson --step 3` prints

    core.py     Step, Answer, the registry (lesson_step), step parsing and text
    steps.py    the seven steps, in order (adding one is one more @lesson_step function)
    shipped.py  the shipped results they read (assets/results/<experiment>/)
"""
from . import steps as _steps  # noqa: F401  (registers the steps, in order)
from .core import STEPS, Answer, Step, get_step, parse_step, step_count, step_json, step_text
from .shipped import EXPERIMENT_TITLES, shipped as shipped_experiment, signature as results_signature
from .steps import cam_pair, layer_checkpoints

__all__ = ["STEPS", "Answer", "Step", "get_step", "parse_step", "step_count", "step_json", "step_text",
           "EXPERIMENT_TITLES", "shipped_experiment", "results_signature", "cam_pair", "layer_checkpoints"]
