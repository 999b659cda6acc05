"""The Streamlit app, driven headless by streamlit's AppTest."""
from pathlib import Path

import pytest

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
APP = str(Path(__file__).resolve().parents[1] / "app" / "main.py")


def test_density_page_trains_and_scores():
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()  # the first run trains RLE, Gaussian and Laplace with the default steps
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["KL(true || rle)", "KL(true || gaussian)", "KL(true || laplace)"]
    assert all(m.value.endswith("nats") for m in at.metric)
    at.slider[0].set_value(-0.5).run()  # moving x0 redraws without retraining
    assert not at.exception
    at.sidebar.slider[0].set_value(300)  # training steps: small for the second world
    at.sidebar.selectbox[0].set_value("bimodal").run()
    assert not at.exception
    assert len(at.metric) == 3
