"""The notebook side: plotly charts (``plots``), ipywidgets dashboards (``widgets``) and the
exercise checkers (``exercises``). The only part of the package that imports Jupyter-side libraries."""
