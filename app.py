"""AReLU Lab: the Streamlit entry point. Pages render; arelu_core computes."""
import streamlit as st

st.set_page_config(page_title="AReLU Lab", page_icon="📈", layout="wide")

# No url_path: each page's address is its file name (/train_live, ...), the same name Streamlit's
# legacy pages/ mode resolves, so a deep link on a freshly started server finds its page (ui/navigation.py).
PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/lesson.py", title="Lesson", icon=":material/school:"),
    st.Page("pages/explore.py", title="Explore the function", icon=":material/show_chart:"),
    st.Page("pages/gradient_flow.py", title="Gradient flow", icon=":material/waves:"),
    st.Page("pages/train_live.py", title="Train live", icon=":material/model_training:"),
    st.Page("pages/inspect_digit.py", title="Feature maps & Grad-CAM", icon=":material/image_search:"),
    st.Page("pages/reproduce.py", title="Reproduce the paper", icon=":material/table_chart:"),
]
st.navigation(PAGES).run()
