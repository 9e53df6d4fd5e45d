"""The upload pages in a real browser (Debian's Chromium via Playwright, 1280 x 720 like a lecture projector):
a photo made from a test image, a corrupt file, a decompression bomb, a valid .npy and a pickled one,
all uploaded through the real file input of one `streamlit run app.py` server. Screenshots in test-output/."""

import pytest
from playwright.sync_api import Page, expect
from support.browser import RUN_TIMEOUT_MS, chromium, new_session, screenshot, streamlit_server, wait_for_app
from upload_files import bomb_png, photo_of, pickled_npy

from uap_app.current import SHIPPED_PERTURBATION


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def page():
    """One visitor at a projector's 1280 x 720."""
    with chromium() as browser:
        yield new_session(browser, 1280, 720)


@pytest.fixture(scope="module")
def files(tmp_path_factory, test_set):
    """The files to upload, written to disk as a visitor would have them."""
    folder = tmp_path_factory.mktemp("uploads")
    sneaker = test_set.images[(test_set.labels == 7).nonzero()[0].item()]
    contents = {
        "sneaker.jpg": photo_of(sneaker, "JPEG"),
        "corrupt.png": b"\x89PNG\r\n\x1a\n" + bytes(500),
        "bomb.png": bomb_png(30_000, 30_000),
        "uap.npy": SHIPPED_PERTURBATION.read_bytes(),
        "pickled.npy": pickled_npy(),
    }
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in contents}


def upload(page: Page, path) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))


def settled_screenshot(page: Page, name: str) -> None:
    """A screenshot once the script has finished and every picture has loaded (else the page measures short)."""
    wait_for_app(page)
    page.wait_for_function("() => [...document.images].every(image => image.complete)")
    screenshot(page, name)


def error_box(page: Page):
    return page.locator('[data-testid="stAlertContainer"]').filter(has_text="cannot be used")


def test_photo_then_bad_images(app_url, page, files):
    page.goto(f"{app_url}/photo")
    wait_for_app(page)
    expect(page.locator("h1")).to_contain_text("Your own photo")

    upload(page, files["sneaker.jpg"])
    expect(page.get_by_text("With v:")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_text("Your photo: Sneaker")).to_be_visible()
    expect(page.get_by_text("is inverted")).to_be_visible()
    settled_screenshot(page, "photo")

    upload(page, files["corrupt.png"])
    expect(error_box(page)).to_contain_text("not a PNG, JPEG or WebP", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_text("With v:")).to_have_count(0)
    settled_screenshot(page, "photo_corrupt")

    upload(page, files["bomb.png"])
    expect(error_box(page)).to_contain_text("decompression bomb", timeout=RUN_TIMEOUT_MS)
    settled_screenshot(page, "photo_bomb")

    upload(page, files["sneaker.jpg"])  # the server is still serving this session
    expect(page.get_by_text("With v:")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(error_box(page)).to_have_count(0)


def test_perturbation_files(app_url, page, files):
    page.goto(f"{app_url}/inspect_perturbation")
    wait_for_app(page)
    expect(page.locator("h1")).to_contain_text("Judge a perturbation file")

    upload(page, files["pickled.npy"])
    expect(error_box(page)).to_contain_text("pickle", timeout=RUN_TIMEOUT_MS)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(0)
    settled_screenshot(page, "npy_pickled")

    upload(page, files["uap.npy"])
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(5, timeout=RUN_TIMEOUT_MS)
    expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=RUN_TIMEOUT_MS)
    expect(page.locator('[data-testid="stImage"]')).to_have_count(24, timeout=RUN_TIMEOUT_MS)
    expect(error_box(page)).to_have_count(0)
    settled_screenshot(page, "npy_valid")
