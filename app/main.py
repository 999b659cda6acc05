"""rlelab app: learned densities, per-joint sigma on your pictures, L1 against RLE side by side, and a 2-D pose
lifted to 3-D with sigma along the depth.

Run: streamlit run app/main.py
"""
import streamlit as st

st.set_page_config(page_title="rlelab", page_icon="🦴", layout="wide")

import page_3d  # noqa: E402  (after set_page_config)
import page_densities  # noqa: E402
import page_pose  # noqa: E402

PAGES = {  # title: (address, page), open one directly with ?page=address
    "Learned densities": ("densities", page_densities.render),
    "Pose and sigma": ("pose", page_pose.render_single),
    "Compare L1 vs RLE": ("compare", page_pose.render_compare),
    "3-D lifting": ("lifting", page_3d.render_lifting),
}
addresses = [address for address, _ in PAGES.values()]
start = st.query_params.get("page", "densities")
with st.sidebar:
    st.markdown("## rlelab\n*Human Pose Regression with Residual Log-likelihood Estimation* (ICCV 2021)")
    page = st.radio("page", list(PAGES), label_visibility="collapsed",
                    index=addresses.index(start) if start in addresses else 0)
    st.divider()
PAGES[page][1]()
