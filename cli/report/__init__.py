"""``quantarena report``: results folders read back into tables, charts and one self-contained HTML page.

``folders`` reads results folders (tolerating truncated and older ones), ``tables`` turns them into
one row per run and one per answer (CSV/Parquet), ``comparison`` sets two sessions side by side,
``charts`` builds the Vega-Lite charts, ``page`` writes the HTML, ``browser`` checks it in headless
Chromium, ``findings`` writes the project's study from the committed GPU results. The charting
library (altair + vl-convert) is imported only by ``charts`` and ``page``, when a report is built.
"""
