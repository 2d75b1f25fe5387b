"""pvscsi-gen: turns hw/pvscsi.yaml into the typed C++ in generated/.

Passes: load (keeping YAML line numbers) -> validate -> model -> render (Jinja2) ->
clang-format -> write, or --check (compare with what is on disk).
"""
