"""The web app's own machinery, split by job; pages import it through the facade ``ui``.

- :mod:`uap_app.runs`: the server-side run manager (worker threads, fair queue, shared runs); no Streamlit.
- :mod:`uap_app.resources`: process-wide, bounded caches of models, data and seeded index orders; no Streamlit.
- :mod:`uap_app.settings`: the live page's settings, read from and written to the URL; no Streamlit.
- :mod:`uap_app.live`: what a live run computes and publishes (chart, before/after strip); no Streamlit.
- :mod:`uap_app.cache`: the Streamlit layer over the caches (spinners, data guard, evaluations, run managers).
- :mod:`uap_app.widgets`: figures, pictures, image rows, metric cards, downloads.
- :mod:`uap_app.findings`: one page per finding of the paper, and the in-script heavy runs it uses.
"""
