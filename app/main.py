"""rlelab app: learned densities, per-joint sigma on your pictures, L1 against RLE side by side, a 2-D pose
lifted to 3-D with sigma along the depth, what a model does with a joint it cannot see, and RLE beyond pose: the
boundaries of a retina scan.

Run: streamlit run app/main.py
"""
import sys
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="rlelab", page_icon="🦴", layout="wide")
if str(Path(__file__).parent) not in sys.path:  # `streamlit run` puts this folder there; AppTest (1.60) does not
    sys.path.insert(0, str(Path(__file__).parent))

# a page a file in views/ (not pages/: Streamlit would list a pages/ folder as pages of its own), each with render()
from views import compare, cover, densities, eq8, lifting, oct, pose  # noqa: E402  (after set_page_config)

LABS = {  # the lab that explains each page (labs/, Jupyter); each lab ends by pointing back here
    "densities": "lab 04 (learned density shapes), after 01-02",
    "eq8": "lab 03 (from the basic design to DLE to RLE) and lab 08 (three RLE formulas)",
    "pose": "lab 07 (confidence and sigma), after lab 01 (sigma as a learned scale)",
    "compare": "lab 01 (the MLE view of L1), lab 06 (heatmap vs regression) and lab 07",
    "lifting": "lab 05 (3-D RLE and lifting)",
    "cover": "lab 09 (what a regression model sees that a heatmap does not)",
    "oct": "lab 10 (RLE beyond pose)",
}
ORDER = ("Suggested order: labs 01-02, then *Learned densities* and lab 04, lab 03 with *Eq. 8 term by term*, "
         "*Pose and sigma* and *Compare* with labs 06-07, lab 05 with *3-D lifting*, lab 08, then lab 09 with *Cover a joint*, and lab 10 with *Retina boundaries*.")
PAGES = {  # title: (address, page), open one directly with ?page=address
    "Learned densities": ("densities", densities.render),
    "Eq. 8 term by term": ("eq8", eq8.render),
    "Pose and sigma": ("pose", pose.render),
    "Compare L1 vs RLE": ("compare", compare.render),
    "3-D lifting": ("lifting", lifting.render),
    "Cover a joint": ("cover", cover.render),
    "Retina boundaries": ("oct", oct.render),
}
addresses = [address for address, _ in PAGES.values()]
start = st.query_params.get("page", "densities")
with st.sidebar:
    st.markdown("## rlelab\n*Human Pose Regression with Residual Log-likelihood Estimation* (ICCV 2021)")
    page = st.radio("page", list(PAGES), label_visibility="collapsed",
                    index=addresses.index(start) if start in addresses else 0)
    st.caption(f"Explained in {LABS[PAGES[page][0]]}. " + ORDER)
    st.divider()
PAGES[page][1]()
