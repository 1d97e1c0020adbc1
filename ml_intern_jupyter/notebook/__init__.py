"""The notebook surface: `%%intern` / `%intern` magics, live view, transcript, text mode.

Layers, each importing only the ones below it (ARCHITECTURE.md, "Notebook
surface"; a contract in pyproject.toml checks it): `magics` -> `commands` ->
`sidebar` -> `view` -> `conductor` | `render`.

Nothing here is imported by `import ml_intern_jupyter`; `%load_ext` imports
`magics`, and widgets, markdown and Pygments load lazily on first use.
"""
