"""Entry point of the web app: ``streamlit run app.py``. Only routing here; each page is a file under app_pages/.

The folder is deliberately not called ``pages/``: with a folder of that name Streamlit falls back to its
older, folder-based navigation for the first visitor of a fresh server who opens a page link directly,
bypassing this router (narrow layout, wrong menu).
"""

import streamlit as st

from uap_app.memory import fix_allocator_thresholds
from uap_app.page import apply_style, leave_other_pages  # the router loads no torch (uap_app.page)

fix_allocator_thresholds()  # before any run allocates: memory stays flat over many runs (see uap_app.memory)
st.set_page_config(page_title="Universal Adversarial Perturbations", page_icon=":material/blur_on:", layout="wide")
apply_style()

# Adding a page is one line in its section; empty sections are left out of the menu.
PAGES = {
    "Demo": [
        st.Page("app_pages/home.py", title="What is a universal perturbation?", icon=":material/home:", default=True),
        st.Page("app_pages/attack.py", title="Build one, live", icon=":material/play_circle:"),
        st.Page("app_pages/photo.py", title="Your own photo, or the camera", icon=":material/photo_camera:"),
        st.Page("app_pages/inspect_perturbation.py", title="Judge a perturbation file", icon=":material/upload_file:"),
    ],
    "Findings of the paper": [
        st.Page("app_pages/sample_size.py", title="1 · A few images suffice", icon=":material/filter_1:"),
        st.Page("app_pages/random_noise.py", title="2 · Not just noise", icon=":material/filter_2:"),
        st.Page("app_pages/dominant_labels.py", title="3 · Dominant labels", icon=":material/filter_3:"),
        st.Page("app_pages/diversity.py", title="4 · Diversity", icon=":material/filter_4:"),
        st.Page("app_pages/transfer.py", title="5 · Transfer between models", icon=":material/filter_5:"),
        st.Page("app_pages/geometry.py", title="6 · Why it works: geometry", icon=":material/filter_6:"),
        st.Page("app_pages/finetune.py", title="7 · Fine-tuning", icon=":material/filter_7:"),
    ],
    "Beyond the paper": [
        st.Page("app_pages/defence.py", title="Can it be defended?", icon=":material/shield:"),
    ],
}

# The menu sits at the top, so a 1280-pixel projector gives the pages its whole width.
page = st.navigation({section: pages for section, pages in PAGES.items() if pages}, position="top")
leave_other_pages(page.url_path)  # a visitor who opens another page frees the jobs of the others at once
page.run()
