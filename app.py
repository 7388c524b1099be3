"""AReLU Lab: the Streamlit entry point. Pages render; arelu_core computes."""
import streamlit as st

st.set_page_config(page_title="AReLU Lab", page_icon="📈", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/explore.py", title="Explore the function", icon=":material/show_chart:", url_path="explore"),
    st.Page("pages/gradient_flow.py", title="Gradient flow", icon=":material/waves:", url_path="gradient-flow"),
    st.Page("pages/train_live.py", title="Train live", icon=":material/model_training:", url_path="train"),
    st.Page("pages/inspect_digit.py", title="Feature maps & Grad-CAM", icon=":material/image_search:", url_path="inspect"),
    st.Page("pages/reproduce.py", title="Reproduce the paper", icon=":material/table_chart:", url_path="reproduce"),
]
st.navigation(PAGES).run()
