"""Load the YAML description, remembering the line of every mapping, key and list item."""

import yaml

from gen.diagnostics import Diagnostic, GenError


class Map(dict):
    """A YAML mapping: a dict plus the 1-based line of the mapping, of each key and value."""

    line = 0

    def __init__(self):
        super().__init__()
        self.key_lines = {}
        self.value_lines = {}

    def line_of(self, key):
        """Line of `key` (or of the mapping when the key is absent)."""
        return self.key_lines.get(key, self.line)


class Seq(list):
    """A YAML sequence: a list plus its line and the line of each item."""

    line = 0

    def __init__(self):
        super().__init__()
        self.item_lines = []


# libyaml's parser when PyYAML has it (much faster), else the pure-Python one; both keep marks.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """SafeLoader whose mappings and sequences record where they came from."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates = []


def _construct_map(loader, node):
    loader.flatten_mapping(node)
    result = Map()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            loader.duplicates.append(Diagnostic(line, "mapping key is not a scalar",
                                                "use a plain name as the key"))
            continue
        if key in result:
            loader.duplicates.append(Diagnostic(
                line, f"duplicate key '{key}' (first at line {result.key_lines[key]})",
                "remove or rename one of them"))
            continue
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
        result.value_lines[key] = value_node.start_mark.line + 1
    return result


def _construct_seq(loader, node):
    result = Seq()
    result.line = node.start_mark.line + 1
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_lines.append(item.start_mark.line + 1)
    return result


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_text(text: str):
    """Parse YAML text into Map/Seq/scalars; raises GenError on syntax errors."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark is not None \
                and exc.context_mark.line + 1 != line:
            # "while parsing a flow sequence" -> "(a flow sequence started at line N)"
            what = exc.context.replace("while parsing ", "").replace("while scanning ", "")
            problem += f" ({what} started at line {exc.context_mark.line + 1})"
        raise GenError([Diagnostic(line, f"YAML syntax error: {problem}",
                                   "fix the YAML syntax at this line")]) from None
    except yaml.YAMLError as exc:
        raise GenError([Diagnostic(1, f"YAML error: {exc}", "fix the YAML syntax")]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise GenError(loader.duplicates)
    return data


def load_file(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise GenError([Diagnostic(0, f"cannot read the file ({exc.strerror})",
                                   "pass an existing file with --spec")]) from None
    except UnicodeDecodeError:
        raise GenError([Diagnostic(1, "the file is not UTF-8 text",
                                   "save it as UTF-8")]) from None
    return load_text(text)
