"""The Streamlit app, every page driven headless by streamlit's AppTest."""
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app" / "main.py")
SAMPLE = ROOT / "data" / "samples" / "synthpose_1.jpg"
REAL_COCO = ROOT.parent / "shared" / "data" / "real-samples" / "coco"
needs_checkpoints = pytest.mark.skipif(
    not (ROOT / "data" / "synthpose_lite0_rle.pt").exists() or not (ROOT / "data" / "synthpose_lite0_l1.pt").exists(),
    reason="the shipped checkpoints data/synthpose_lite0_{rle,l1}.pt are missing (see docs/guides/checkpoints.md)")


def app(page):
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["page"] = page
    return at.run()


def png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def test_density_page_opens_without_training_and_trains_other_settings_once():
    import sys
    at = AppTest.from_file(APP, default_timeout=300)
    start = time.perf_counter()
    at.run()  # the default view (RLE, Gaussian, Laplace on the correlated law) comes from data/app_toy_fits.pt
    first = time.perf_counter() - start
    assert not at.exception
    page = sys.modules["views.densities"]
    assert page.SHIPPED.exists() and page.TRAINED == []  # nothing trained for the first visitor
    labels = [m.label for m in at.metric]
    assert labels == ["KL(true || rle)", "KL(true || gaussian)", "KL(true || laplace)"]
    assert all(m.value.endswith("nats") for m in at.metric)
    kl = [float(m.value.split()[0]) for m in at.metric]
    assert kl[0] < min(kl[1:]) / 3  # the default view is one where RLE's learned shape wins clearly
    assert "can learn the tilt: its KL is" in at.info[0].value  # the default view says its lesson
    at.slider[0].set_value(-0.5).run()  # moving x0 redraws without retraining
    assert not at.exception
    at.session_state["steps_1d"] = 300  # training steps: small for a 1-D world
    at.sidebar.selectbox[0].set_value("student_t").run()
    assert not at.exception
    assert len(at.metric) == 3 and "does not beat the plain Laplace" in at.info[0].value
    assert len(page.TRAINED) == 3  # a new setting trains its three fits, live ...
    again = AppTest.from_file(APP, default_timeout=300)  # ... once for the server: another visitor reads them
    again.session_state["steps_1d"] = 300
    again.session_state["toy_law"] = "student_t"
    again.run()
    assert not again.exception and len(page.TRAINED) == 3
    print(f"first page: {first:.2f} s")


def test_density_page_draws_2d_contours_for_the_correlated_law():
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["page"] = "densities"
    at.session_state["toy_law"] = "correlated"  # the first run fits the 2-D world, with few steps
    at.session_state["steps_2d"] = 200
    at.run()
    assert not at.exception and not at.warning
    assert [m.label for m in at.metric] == ["KL(true || rle)", "KL(true || gaussian)", "KL(true || laplace)"]
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["type"] for t in figure["data"]] == ["heatmap"] * 4  # truth, RLE, Gaussian, Laplace
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert titles[0] == "truth" and titles[1].startswith("rle (KL ")


def test_density_page_lessons_say_what_the_numbers_shown_say():
    import importlib
    import sys

    sys.path.insert(0, str(ROOT / "app"))
    page = importlib.import_module("views.densities")
    dle_wins = {"dle": {"kl": 0.0151}, "laplace": {"kl": 0.0170}, "gaussian": {"kl": 0.03}}
    said = page.lesson("student_t", "dle", dle_wins)
    assert "DLE beats the plain Laplace" in said and "1.1x below" in said and "RLE" not in said
    rle_loses = {"rle": {"kl": 0.02}, "laplace": {"kl": 0.0170}, "gaussian": {"kl": 0.03}}
    assert "RLE does not beat the plain Laplace (its KL is 1.2x the Laplace's)" in page.lesson("student_t", "rle", rle_loses)


@pytest.mark.parametrize("law, words", [("gumbel", "long tail"), ("flat", "flat top")])
def test_density_page_teaches_the_skewed_and_the_flat_law(law, words):
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["page"] = "densities"
    at.session_state["toy_law"] = law
    at.session_state["steps_1d"] = 200
    at.run()
    assert not at.exception
    assert any(words in info.value for info in at.info)


@needs_checkpoints
@pytest.mark.skipif(not (ROOT / "data" / "synthpose_res18_rle.pt").exists(),
                    reason="the earlier checkpoint data/synthpose_res18_rle.pt is missing (see docs/guides/checkpoints.md)")
def test_density_page_shows_a_pose_checkpoints_flow():
    at = app("densities")
    at.sidebar.radio[1].set_value("a pose checkpoint").run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "data/synthpose_lite0_rle.pt"
    # the shipped model is the standardized RLE: its P_phi has std 1 by construction, and the page says so
    assert at.main.caption[-1].value.startswith("Standardized RLE: P_phi moved and scaled to mean 0 and std 1")
    at.sidebar.selectbox[0].set_value("data/synthpose_res18_rle.pt").run()  # the earlier one, Eq. 8 without log s
    assert not at.exception
    caption = at.main.caption[-1].value
    assert caption.startswith("std of the learned density:")
    std_x = float(caption.split(":")[1].split()[0])
    assert 0 < std_x < 3
    at.sidebar.selectbox[0].set_value("data/synthpose_lite0_l1.pt").run()
    assert not at.exception and "no flow" in at.info[0].value


@needs_checkpoints
def test_pose_page_on_a_sample_and_an_upload():
    at = app("pose")
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels[0] == "confidence c (Eq. 9)" and labels[1].startswith("least sure joint (σ̂ 0.") and labels[2] == "inference"
    assert not at.metric[1].delta  # sigma_hat is not a change
    c = float(at.metric[0].value)
    assert 0 < c < 1
    assert any("download-weights mmpose-res50-rle" in caption.value for caption in at.sidebar.caption)  # drawn only
    at.radio(key="pose_source").set_value("upload").run()
    at.file_uploader[0].set_value(("me.jpg", SAMPLE.read_bytes(), "image/jpeg")).run()
    assert not at.exception
    assert "This model has never seen a photograph" in at.warning[0].value  # an upload is a photograph
    assert at.radio(key="pose_boxes_me.jpg").options == ["MediaPipe's detector", "the whole picture"]  # found, first
    at.radio(key="pose_boxes_me.jpg").set_value("whole").run()
    assert not at.exception and float(at.metric[0].value) == pytest.approx(c, abs=1e-3)  # same picture, same answer
    box = {n.label: n for n in at.number_input}
    assert at.main.caption[1].value.startswith("No person box")
    box["x"].set_value(20)  # a typed person box, in a form: one rerun when it is sent, none per number
    box["width"].set_value(100)
    at.button(key="pose_use_box").click().run()
    assert not at.exception and float(at.metric[0].value) != pytest.approx(c, abs=1e-6)
    assert at.main.caption[1].value.startswith("The typed box")


@needs_checkpoints
def test_an_upload_gets_its_people_found_or_says_why_not(monkeypatch):
    """MediaPipe finds the person of an upload (the whole picture is not a person box); without mediapipe the
    page says how to install it and falls back to the whole picture; on a blank picture it says nobody was found."""
    from rlelab import detect

    at = app("pose")
    at.radio(key="pose_source").set_value("upload").run()
    if detect.available():
        at.file_uploader[0].set_value(("me.jpg", SAMPLE.read_bytes(), "image/jpeg")).run()
        assert not at.exception and at.main.caption[1].value.startswith("People found by MediaPipe's pose detector: 1")
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        (rect,) = [shape for shape in spec["layout"]["shapes"] if shape["type"] == "rect"]
        h, w = np.asarray(Image.open(SAMPLE)).shape[:2]
        assert (rect["x1"] - rect["x0"]) * (rect["y1"] - rect["y0"]) < 0.5 * w * h  # a person, not the picture
        at.file_uploader[0].set_value(("blank.png", png(np.full((300, 200, 3), 128, np.uint8)), "image/png")).run()
        assert not at.exception and "MediaPipe found nobody" in at.info[0].value
        assert at.main.caption[1].value.startswith("No person box")
    monkeypatch.setattr(detect, "available", lambda: False)
    at.file_uploader[0].set_value(("me2.jpg", SAMPLE.read_bytes(), "image/jpeg")).run()
    assert not at.exception and at.info[0].value == detect.INSTALL
    assert at.main.caption[1].value.startswith("No person box")


@needs_checkpoints
@pytest.mark.parametrize("name, data, message", [
    ("notes.jpg", b"not a picture at all", "not an image we can read"),
    ("cut.jpg", SAMPLE.read_bytes()[:2000] if SAMPLE.exists() else b"", "could not be decoded"),
])
def test_pose_page_bad_upload_is_one_message_and_the_app_keeps_serving(name, data, message):
    at = app("pose")
    at.radio(key="pose_source").set_value("upload").run()
    at.file_uploader[0].set_value((name, data, "image/jpeg")).run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    gray = np.random.default_rng(0).integers(0, 255, (300, 200), dtype=np.uint8)  # then a good (grayscale) one
    at.file_uploader[0].set_value(("gray.png", png(gray), "image/png")).run()
    assert not at.exception and not at.error and len(at.metric) == 3


@needs_checkpoints
def test_compare_page_puts_l1_and_rle_side_by_side():
    at = app("compare")
    assert not at.exception
    assert [at.sidebar.selectbox[i].value for i in (0, 1)] == ["data/synthpose_lite0_l1.pt", "data/synthpose_lite0_rle.pt"]
    assert [h.value for h in at.subheader] == ["L1", "RLE"]
    assert at.metric[0].value == "n/a" and 0 < float(at.metric[1].value) < 1  # L1 has no sigma_hat
    l1, rle = (json.loads(chart.proto.spec) for chart in at.get("plotly_chart"))
    markers = lambda spec: [t["marker"] for t in spec["data"] if t.get("mode") == "markers"]
    assert markers(l1)[0]["color"] == "white" and "colorbar" not in markers(l1)[0]  # nothing coloured by an untrained sigma
    assert "colorbar" in markers(rle)[0]
    assert len(at.subheader) == 2  # a drawn sample: no photo, no MediaPipe column


@needs_checkpoints
@pytest.mark.skipif(not (REAL_COCO / "test_coco.json").exists(), reason="no real COCO samples in ../shared")
def test_compare_page_shows_mediapipe_beside_the_models_on_a_photo(monkeypatch):
    """On the skier (COCO 785) MediaPipe, trained on photos, reaches OKS 0.91 against the annotation; the shipped
    models of drawn figures 0.63 (L1) and 0.65 (RLE) in the annotated box (benchmarks/real_photos.py)."""
    from rlelab import detect

    at = app("compare")
    at.selectbox(key="cmp_sample").set_value(("000000000785.jpg", "COCO val2017, a real photo")).run()
    assert not at.exception and [h.value for h in at.subheader] == ["L1", "RLE", "MediaPipe (reference)"]
    assert len(at.warning) == 1 and "Neither model has ever seen a photograph" in at.warning[0].value  # said once
    scores = [float(m.value) for m in at.metric if m.label == "mean OKS to the annotated people"]
    if detect.available():
        assert len(scores) == 3 and scores[2] > max(scores[:2]) + 0.1
        assert len(at.get("plotly_chart")) == 3
    at.sidebar.checkbox(key="cmp_reference").uncheck().run()
    assert not at.exception and len(at.subheader) == 2
    at.sidebar.checkbox(key="cmp_reference").check().run()
    monkeypatch.setattr(detect, "available", lambda: False)
    at.run()
    assert not at.exception and at.info[0].value == detect.INSTALL


needs_lifting = pytest.mark.skipif(not (ROOT / "data" / "synth3d_lift_rle.pt").exists(),
                                   reason="the shipped lifting model data/synth3d_lift_rle.pt is missing (docs/results/human36m.md)")


@needs_lifting
def test_lifting_page_lifts_a_synth3d_person_and_a_picture():
    at = app("lifting")
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["error std along the depth", "error std in the image plane", "MPJPE", "PA-MPJPE"]
    depth, plane = (float(m.value.split()[0]) for m in at.metric[:2])
    assert depth > plane  # the depth is where the picture says least (lab 05)
    assert len(at.get("plotly_chart")) == 2
    # the shipped lifting model is the standardized RLE: sigma_hat is the error's std (it said "not it" before)
    assert "σ̂ is the error's std itself" in at.caption[0].value
    if (ROOT / "data" / "synthpose_lite0_rle.pt").exists():
        at.radio(key="lift_from").set_value("a picture (the 2-D model)").run()
        assert not at.exception
        assert [m.label for m in at.metric] == ["error std along the depth", "error std in the image plane"]


def test_the_pose_pages_do_not_offer_the_lifting_model():
    import sys

    sys.path.insert(0, str(ROOT / "app"))
    from common import checkpoints

    assert not [p for p in checkpoints() if "lift" in p]


def plotly_array(value):
    """An array of a figure's JSON: a list, or plotly's typed array {"dtype", "bdata": base64}."""
    import base64
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)


@needs_checkpoints
@pytest.mark.skipif(not (REAL_COCO / "test_coco.json").exists(), reason="no real COCO samples in ../shared")
def test_a_real_sample_shows_its_annotations_and_the_warning_and_boxes_can_be_drawn():
    at = app("pose")
    assert not at.warning  # a drawn SynthPose sample: the model's own world, no warning
    assert "drawn figures, not one photo" in at.main.caption[0].value  # the model says what it was trained on
    at.selectbox(key="pose_sample").set_value(("197388.jpg".rjust(16, "0"), "COCO val2017, a real photo")).run()
    assert not at.exception
    assert "never seen a photograph" in at.warning[0].value
    assert at.main.caption[1].value.startswith("The boxes of the annotated people (5;")
    assert "this picture's range, not 0 to 1" in at.main.caption[1].value  # the colour scale says what it spans
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    annotated = [t for t in spec["data"] if t.get("name") == "annotation"]
    assert len(annotated) == 5 and sum(t.get("showlegend", True) for t in annotated) == 1  # one legend entry
    markers = [t for t in spec["data"] if t.get("hovertext") and "marker" in t and "colorscale" in t["marker"]]
    assert len(markers) == 5  # one prediction per annotated box
    c = np.concatenate([plotly_array(t["marker"]["color"]) for t in markers])
    assert (markers[0]["marker"]["cmin"], markers[0]["marker"]["cmax"]) == pytest.approx((c.min(), c.max()))
    # a box dragged on the picture (the selection plotly sends), in the picture's pixels
    key = "pose_chart_000000197388.jpg_640x392"
    at.session_state[key] = {"selection": {"box": [{"x": [150, 350], "y": [100, 340]}], "points": [], "lasso": [],
                                           "point_indices": []}}
    at.run()
    assert not at.exception and at.main.caption[1].value.startswith("Person boxes drawn on the picture: 1")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert not any(t.get("name") == "annotation" for t in spec["data"])
    rects = [shape for shape in spec["layout"]["shapes"] if shape["type"] == "rect"]
    assert [(r["x0"], r["y0"], r["x1"], r["y1"]) for r in rects] == [(150, 100, 350, 340)]


def test_boxes_from_a_selection_are_clipped_pixel_boxes():
    import sys
    sys.path.insert(0, str(ROOT / "app"))
    from common import boxes_from_selection

    selection = {"box": [{"x": [300, 100], "y": [-20, 80]}, {"x": [5, 7], "y": [0, 50]}, {"x": [600, 700], "y": [10, 20]}]}
    assert boxes_from_selection(selection, 640, 480) == [[100, 0, 200, 80], [600, 10, 40, 10]]  # sorted, clipped; a sliver dropped
    assert boxes_from_selection(None, 640, 480) == []


@needs_checkpoints
@pytest.mark.skipif(not (REAL_COCO / "test_coco.json").exists(), reason="no real COCO samples in ../shared")
def test_imported_released_weights_are_named_and_a_photo_gets_no_warning(tmp_path, monkeypatch):
    """A released model (here the authors' RegressFlow form with random weights, tests/test_released.py) imported
    into a folder of RLELAB_CHECKPOINTS: the page names it and, trained on photos, it meets a photo unwarned."""
    import sys
    sys.path.insert(0, str(ROOT / "tests"))
    from test_released import official_file

    from rlelab.released import import_weights

    path, _, _ = official_file(tmp_path, "resnet18")
    import_weights(str(path), "official", str(tmp_path / "ckpts" / "coco_rle_official.pt"))
    monkeypatch.setenv("RLELAB_CHECKPOINTS", str(tmp_path / "ckpts"))
    at = app("pose")
    choice = str(tmp_path / "ckpts" / "coco_rle_official.pt")
    assert choice in at.sidebar.selectbox[0].options
    at.sidebar.selectbox[0].set_value(choice).run()
    at.selectbox(key="pose_sample").set_value(("000000000785.jpg", "COCO val2017, a real photo")).run()
    assert not at.exception and not at.warning
    assert ("resnet18 regression, loss rle, input 256x192, the authors' released RLE model (official_resnet18.pth), "
            "trained on COCO train2017 photos") in at.main.caption[0].value


@needs_checkpoints
def test_eq8_page_shows_the_three_terms_their_sum_and_the_shortcut():
    import torch

    from rlelab.checkpoints import load_checkpoint
    from rlelab.losses import rle_loss

    at = app("eq8")
    assert not at.exception
    at.slider(key="eq8_label").set_value(0.0)
    at.slider(key="eq8_mu").set_value(0.1)
    at.slider(key="eq8_sigma").set_value(0.2).run()
    values = {m.label: float(m.value) for m in at.metric}
    model, cfg, _ = load_checkpoint(str(ROOT / "data" / "synthpose_lite0_rle.pt"))
    with torch.no_grad():
        eq8 = rle_loss(torch.tensor([[0.1, 0.0]]), torch.tensor([[0.2, 0.2]]), torch.tensor([[0.0, 0.0]]),
                       flow=model.flow, q=cfg.q).per_joint.item()
    assert values["Eq. 8 (their sum)"] == pytest.approx(eq8, abs=1e-3)  # shown to 3 decimals
    terms = [values[k] for k in ("-log Q(bar_mu)", "-log G_phi(bar_mu)", "sum_d log sigma_hat_d")]
    assert sum(terms) == pytest.approx(eq8, abs=2e-3)
    assert values["sum_d log sigma_hat_d"] == pytest.approx(2 * np.log(0.2), abs=1e-3)
    table = at.dataframe[0].value.set_index("term")
    # Laplace Q: -log Q = |bar_mu| + log 2 per coordinate, bar_mu = (0 - 0.1) / 0.2: d/d mu_hat = 1 / sigma_hat
    assert table.loc["-log Q(bar_mu)", "∂/∂μ̂ x"] == pytest.approx(5.0, abs=1e-4)
    assert table.loc["sum_d log sigma_hat_d", "∂/∂μ̂ x"] == 0
    assert table.loc["sum_d log sigma_hat_d", "∂/∂σ̂"] == pytest.approx(2 / 0.2, abs=1e-4)
    assert "shortcut" in table.loc["-log Q(bar_mu)", "reaches μ̂"]
    assert at.sidebar.caption[0].value.startswith("Explained in lab 03")  # the page names its lab


def test_the_shipped_toy_fits_are_the_default_views():
    """data/app_toy_fits.pt holds the default view's three fits under the keys the page asks for (str of each
    FitConfig): a field added to FitConfig without `python docs/make_toy_fits.py` changes the keys, and every
    server's first visitor would train them for 17 s."""
    import sys

    sys.path.insert(0, str(ROOT / "app"))
    from views import densities

    densities.load_shipped()
    assert {str(config) for config in densities.toy_configs()} <= set(densities.FITS)


@needs_checkpoints
def test_cover_page_covers_a_joint_and_says_what_each_model_did():
    at = app("cover")
    assert not at.exception
    assert [at.sidebar.selectbox[i].value for i in (0, 1)] == ["data/synthpose_lite0_rle.pt", "data/synthpose_lite0_l1.pt"]
    assert [h.value for h in at.subheader] == ["RLE", "L1"] and at.selectbox(key="cover_joint").value == "left_wrist"
    rle, l1, bars = (json.loads(chart.proto.spec) for chart in at.get("plotly_chart"))
    assert [t["name"] for t in bars["data"]] == ["RLE", "L1"] and len(bars["data"][0]["x"]) == 17
    square = [s for s in rle["layout"]["shapes"] if s["type"] == "rect" and s["line"]["color"] == "black"]
    assert len(square) == 1  # the grey square, outlined, where the RLE model put the left wrist on the clean picture
    tables = at.dataframe
    assert len(tables) == 2 and list(tables[0].value.columns) == ["joint", "moved (px)", "σ̂ clean", "σ̂ covered"]
    assert list(tables[1].value.columns) == ["joint", "moved (px)"]  # L1 has no sigma_hat to show
    rle_table = tables[0].value.set_index("joint")
    assert rle_table.loc["left_wrist", "moved (px)"] > 0  # the picture changed under the joint, so did its prediction
    at.run()  # a session's second run pays streamlit's own one-time costs (1.2 s here for a run that changes nothing)
    start = time.perf_counter()
    at.selectbox(key="cover_joint").set_value("nose").run()
    seconds = time.perf_counter() - start  # the models are loaded: four crops (with their flips) and the figures;
    # measured 0.38-0.47 s with both cores busy training
    assert not at.exception and at.dataframe[0].value.set_index("joint").loc["nose", "moved (px)"] > 0
    assert seconds < 1.0, seconds


def test_paint_draws_the_grey_square_inside_the_picture_only():
    import sys
    sys.path.insert(0, str(ROOT / "app"))
    from views.cover import paint

    image = np.zeros((20, 30, 3), np.uint8)
    out = paint(image, [-5, 10, 10, 20])  # half outside on the left and below
    assert (out[10:, :5] == 128).all() and out.sum() == 128 * 3 * 10 * 5 and image.sum() == 0


@pytest.mark.skipif(not (ROOT / "data" / "synthoct_mnv3_rle.pt").exists(), reason="no shipped OCT checkpoint")
def test_retina_page_draws_each_boundary_with_its_band_and_lists_oct_models_only():
    at = app("oct")
    assert not at.exception
    options = at.sidebar.selectbox(key="oct_model").options
    assert "data/synthoct_mnv3_rle.pt" in options and not any("synthpose" in o for o in options)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    bands = [t for t in spec["data"] if t.get("fill") == "toself"]
    lines = [t for t in spec["data"] if t.get("mode") == "lines"]
    assert len(bands) == len(lines) == 8 and [t["name"] for t in lines][0] == "ILM"
    table = at.dataframe[0].value
    assert list(table.columns) == ["boundary", "predicted |error| (px)", "|error| vs truth (px)"] and len(table) == 8
    predicted = table["predicted |error| (px)"].astype(float)
    assert (predicted > 0).all()
    band = [np.mean(plotly_array(t["y"])[:16] - plotly_array(lines[b]["y"])) for b, t in enumerate(bands)]  # -sigma_hat std(bar_mu)
    assert (-np.array(band) > predicted.to_numpy() - 0.01).all()  # a zero-mean law's std is at least its E|x|
    at.selectbox(key="oct_band").set_value("BM").run()  # one boundary's band alone
    spec_bm = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in spec_bm["data"] if t.get("fill") == "toself"] == ["BM band"]
    at.number_input(key="oct_seed").set_value(11).run()  # another fresh scan
    assert not at.exception and json.loads(at.get("plotly_chart")[0].proto.spec) != spec
    at.radio(key="oct_source").set_value("upload").run()
    assert not at.exception and "Upload a scan" in at.info[0].value


def test_pose_pages_do_not_offer_oct_models():
    import sys
    sys.path.insert(0, str(ROOT / "app"))
    from common import checkpoints

    assert not any("synthoct" in p for p in checkpoints())
