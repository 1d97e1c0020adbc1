"""The notebook surface: `%%intern` / `%intern` magics, live view, transcript, text mode.

Nothing here is imported by `import ml_intern_jupyter`; `%load_ext` imports
`magics`, and widgets, markdown and Pygments load lazily on first use.
"""
