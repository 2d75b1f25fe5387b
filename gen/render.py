"""Render the model through the Jinja2 templates (StrictUndefined: a typo is an error)."""

import os
import traceback

import jinja2

from gen import names

# Output file -> template. The order is the order files are written and reported.
OUTPUTS = (
    ("pvscsi_defs.h", "pvscsi_defs.h.j2"),
    ("pvscsi_regs.h", "pvscsi_regs.h.j2"),
    ("pvscsi_layouts.h", "pvscsi_layouts.h.j2"),
    ("pvscsi_hw.h", "pvscsi_hw.h.j2"),
    ("pvscsi_mock_skeleton.h", "pvscsi_mock_skeleton.h.j2"),
    ("pvscsi_layout_test.cc", "pvscsi_layout_test.cc.j2"),
    ("REGISTERS.md", "REGISTERS.md.j2"),
)


def _hex(value):
    return f"0x{value:X}"


def environment(template_dir: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["hex"] = _hex
    env.filters["hex4"] = lambda value: f"0x{value:04X}"
    env.filters["camel"] = names.camel
    return env


class RenderError(Exception):
    """A template failed: which one, at which line, and why."""

    def __init__(self, template: str, line: int, message: str):
        super().__init__(message)
        self.template, self.line, self.message = template, line, message


def _render_one(env, template_dir, template, device):
    path = os.path.join(template_dir, template)
    try:
        return env.get_template(template).render(dev=device)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(exc.filename or path, exc.lineno or 0, exc.message or str(exc)) from None
    except jinja2.TemplateError as exc:
        # Jinja rewrites tracebacks so that template lines appear as frames of the template file.
        line = 0
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename.endswith(".j2"):
                path, line = frame.filename, frame.lineno or 0
        raise RenderError(path, line, str(exc)) from None


def render(device, template_dir: str) -> dict:
    """Returns {output file name: text}."""
    env = environment(template_dir)
    out = {}
    for name, template in OUTPUTS:
        text = _render_one(env, template_dir, template, device)
        # One trailing newline, no trailing blanks: stable output whatever the template ends with.
        lines = [line.rstrip() for line in text.splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        out[name] = "\n".join(lines) + "\n"
    return out
