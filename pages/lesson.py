"""Lesson: the paper's argument in steps, for a class. Each step asks a question (predict first), offers a
small live widget, and reveals the answer computed now (arelu_core.lesson); "Open in full" opens the
full page in the same state. The step lives in the URL (?step=k), so a link opens the same step."""
import streamlit as st

from arelu_core import lesson
from ui import lesson_steps
from ui.navigation import through_app

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

STEPS = lesson.step_count()
lesson_steps.warm_up()


def go_to(number: int) -> None:
    st.query_params["step"] = str(number)


number, note = lesson.parse_step(st.query_params.get("step"))
if note:
    st.warning(note, icon=":material/link_off:")
go_to(number)      # the URL always names the step shown (and a bad value is replaced by it)
step = lesson.get_step(number)

st.title("Lesson: why AReLU learns fast")
st.caption("The paper's argument in steps, for a class: read the question, let the class predict, then reveal "
           "the answer, computed now from the library or read from our shipped results. The address bar "
           "names the step, so a link opens the same step.")

where, back, forward = st.columns([6, 1, 1], vertical_alignment="bottom")
where.progress(number / STEPS, text=f"Step {number} of {STEPS}: **{step.title}**")
back.button("Back", icon=":material/arrow_back:", disabled=number == 1, on_click=go_to, args=(number - 1,),
            key="lesson_back", width="stretch")
forward.button("Next", icon=":material/arrow_forward:", disabled=number == STEPS, on_click=go_to,
               args=(number + 1,), key="lesson_next", width="stretch", type="primary")

st.subheader(f"{number}. {step.title}")
question, widget = st.columns([2, 3], gap="large")
with question:
    st.markdown(f"**Question for the class.** {step.question}")
    st.radio("Your prediction (optional)", step.choices, index=None, key=f"lesson_guess_{step.key}",
             persist_state="session")
below = st.container()       # full width, under both columns: the answer's large charts and tables
with widget:
    lesson_steps.render(number, below)
