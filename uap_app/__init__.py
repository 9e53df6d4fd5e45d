"""The web app's own machinery, split by job; pages reach it through one module, ``ui`` (``import ui``).

No Streamlit (plain Python, unit-tested without a server; ``tests/test_layers.py`` checks it):

- :mod:`uap_app.jobs`: the server's one job service (shared jobs, watchers, places in flight, one stop mechanism);
  :mod:`uap_app.turns`: turn-taking among the jobs in flight; :mod:`uap_app.estimates`: queue waits from progress;
- :mod:`uap_app.watching`: the job each page of a session watches, kept in the session's state;
- :mod:`uap_app.live`: what a live run computes and publishes (chart, before/after strip), with
  :mod:`uap_app.chart`; :mod:`uap_app.recompute`: a findings page's recompute as a job;
- :mod:`uap_app.live_run`: one live run a page watches (start, join, stop, look, result);
  :mod:`uap_app.live_controller`: the live page's session (settings and address, its run, the result it shares);
  :mod:`uap_app.comparison`: the defence page's two runs side by side;
- :mod:`uap_app.settings`: the live page's settings and ranges, from the engine's defaults; :mod:`uap_app.current`:
  the perturbation the other pages take;
- :mod:`uap_app.resources`: process-wide, bounded caches of models, data and seeded index orders;
- :mod:`uap_app.environment`, :mod:`uap_app.shutdown`, :mod:`uap_app.memory`, :mod:`uap_app.shipped`.

Streamlit: :mod:`uap_app.server` (the job service and the session's watcher name, no torch), :mod:`uap_app.page`
(what every page gets first, no torch), :mod:`uap_app.cache` (data guard, evaluations), :mod:`uap_app.widgets`,
:mod:`uap_app.effects`, :mod:`uap_app.findings`, :mod:`uap_app.live_session`, and
:mod:`uap_app.streamlit_internals` (the two internals the app needs).
"""
