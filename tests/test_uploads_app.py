"""The photo page and the perturbation-file page under Streamlit's AppTest, with real files uploaded.

Good files show their results; bad ones show a clear st.error, never an exception, and the same
session goes on working afterwards (the next good file is shown again).
"""

import math

import numpy as np
import pytest
import support.apptest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest
from upload_files import bomb_png, encode, npy, photo_of, pickled_npy, raw_pickle

from uap_app.current import SHIPPED_PERTURBATION
from uap_core import CLASS_NAMES, evaluate, fooling_rate, load_model, predict
from uap_core.files import MAX_NPY_BYTES, load_perturbation
from uap_core.photo import photo_to_input


def open_page(page: str) -> AppTest:
    app = support.apptest.open_page(page)
    assert not app.exception
    return app


def texts(app: AppTest) -> str:
    return " ".join(element.value for element in [*app.markdown, *app.caption])


@pytest.fixture(scope="module")
def trouser(test_set):
    return test_set.images[(test_set.labels == 1).nonzero()[0].item()]


def test_photo_page_shows_steps_and_both_answers(trouser):
    app = open_page("app_pages/photo.py")
    assert app.info and not app.error  # asks for a picture first
    app.file_uploader(key="photo_upload").upload("trouser.png", photo_of(trouser), "image/png").run()
    assert not app.exception and not app.error
    net = load_model("convnet")
    model_input = photo_to_input(photo_of(trouser)).model_input
    shipped = load_perturbation(SHIPPED_PERTURBATION)
    clean = CLASS_NAMES[predict(net, model_input[None]).item()]
    perturbed = CLASS_NAMES[predict(net, model_input[None], shipped).item()]
    shown = texts(app)
    assert f"Your photo: **{clean}**" in shown
    assert "With v: " in shown and f"**{perturbed}**" in shown
    assert "is **inverted**" in shown  # white page: the page says it inverted the picture, and why
    assert "the perturbation this project ships" in shown
    assert len(app.image) >= 8  # six steps, the input and the input with v

    # Bad files: a clear error, no exception, and the session carries on.
    for name, data in [
        ("corrupt.png", b"\x89PNG\r\n\x1a\n" + bytes(300)),
        ("bomb.png", bomb_png(30_000, 30_000)),
        ("tiny.png", encode(Image.new("L", (20, 20), 255), "PNG")),
    ]:
        app.file_uploader(key="photo_upload").set_value((name, data, "image/png")).run()
        assert not app.exception, name
        assert app.error and "This picture cannot be used" in app.error[0].value, name
    assert "pixels" in app.error[0].value
    app.file_uploader(key="photo_upload").set_value(("again.png", photo_of(trouser), "image/png")).run()
    assert not app.exception and not app.error and f"Your photo: **{clean}**" in texts(app)


def test_photo_page_camera_and_the_visitors_last_run(trouser):
    """The camera's JPEG goes the same way; a perturbation from the live page (session key "uap_latest") is used."""
    app = open_page("app_pages/photo.py")
    app.session_state["uap_latest"] = {
        "perturbation": torch.zeros(1, 28, 28),
        "p": math.inf,
        "model": "mlp",
        "description": "a test perturbation",
    }
    app.radio(key="photo_source").set_value("The camera").run()
    app.camera_input(key="photo_camera").upload("shot.jpg", photo_of(trouser, "JPEG")).run()
    assert not app.exception and not app.error
    shown = texts(app)
    assert "your last run" in shown and "a test perturbation" in shown and "`mlp`" in shown
    assert app.selectbox(key="photo_model").value == "mlp"
    assert ":green[✓ unchanged]" in shown  # v = 0 cannot change the answer


@pytest.fixture(scope="module")
def shipped_npy():
    return SHIPPED_PERTURBATION.read_bytes()


def cards(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def test_perturbation_file_is_judged_on_any_model(shipped_npy, test_set):
    """The shipped (convnet) perturbation judged on the mlp and the lenet; references from plain uap_core calls.
    (The convnet is left out only because it is the slowest to evaluate on all test images.)"""
    from uap_app.resources import RANDOM_TRIALS  # imported by the test, not the module: it sets torch's threads

    app = open_page("app_pages/inspect_perturbation.py")
    assert app.info and not app.metric
    app.selectbox(key="npy_model").set_value("mlp").run()
    app.file_uploader(key="npy_upload").upload("uap.npy", shipped_npy).run()
    assert not app.exception and not app.error
    v = load_perturbation(SHIPPED_PERTURBATION)
    mlp = load_model("mlp")
    reference = evaluate(mlp, test_set.images, test_set.labels, v, math.inf, random_trials=RANDOM_TRIALS)
    shown = cards(app)
    assert shown["Fooling rate (test images)"] == f"{reference.fooling_rate:.1%}"
    before_after = f"{reference.clean_accuracy:.1%} → {reference.perturbed_accuracy:.1%}"
    assert shown["Accuracy before → after"] == before_after
    assert shown["Random noise, same norm"] == f"{reference.random_fooling_rate:.1%}"
    assert "same **ℓ∞** norm" in texts(app)
    assert len(app.get("plotly_chart")) == 2 and len(app.image) == 24  # v and class flow; 12 images before/after

    app.radio(key="npy_norm").set_value("2").run()
    assert not app.exception and "same **ℓ2** norm" in texts(app)
    l2_reference = evaluate(mlp, test_set.images, test_set.labels, v, 2.0, random_trials=RANDOM_TRIALS)
    assert cards(app)["Random noise, same norm"] == f"{l2_reference.random_fooling_rate:.1%}"

    app.selectbox(key="npy_model").set_value("lenet").run()
    assert not app.exception
    on_lenet = fooling_rate(load_model("lenet"), test_set.images, v)
    assert cards(app)["Fooling rate (test images)"] == f"{on_lenet:.1%}"


BAD_FILES = [
    ("wrong_shape.npy", npy(np.zeros((28, 28), np.float32)), "shaped (1, 28, 28)"),
    ("nan.npy", npy(np.full((1, 28, 28), np.nan, np.float32)), "finite"),
    ("integers.npy", npy(np.zeros((1, 28, 28), np.int64)), "floating-point"),
    ("pickled.npy", pickled_npy(), "pickle"),
    ("raw_pickle.npy", raw_pickle(), "not a valid .npy"),
    ("text.npy", b"not a numpy file", "not a valid .npy"),
    ("huge.npy", npy(np.zeros(MAX_NPY_BYTES // 4 + 10, np.float32)), f"{MAX_NPY_BYTES:,}"),
]


def test_bad_perturbation_files_get_a_clear_message(shipped_npy):
    """One session: each bad file gets its message, then a good file still works."""
    app = open_page("app_pages/inspect_perturbation.py")
    app.selectbox(key="npy_model").set_value("mlp").run()  # the fastest to evaluate, for the good file at the end
    for name, data, words in BAD_FILES:
        app.file_uploader(key="npy_upload").set_value((name, data, "application/octet-stream")).run()
        assert not app.exception, name
        assert app.error and "This file cannot be used" in app.error[0].value, name
        assert words in app.error[0].value, app.error[0].value
        assert not app.metric, name
    app.file_uploader(key="npy_upload").set_value(("uap.npy", shipped_npy, "application/octet-stream")).run()
    assert not app.exception and not app.error and len(app.metric) == 5
