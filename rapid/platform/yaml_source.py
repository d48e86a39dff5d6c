"""Reading YAML the way a researcher writes it, and remembering where each key was written.

Two things plain `yaml.safe_load` gets wrong for specs: `1e-4` (no dot) is read as a string,
and an error can't point back at the line a key came from.
"""

import re
from pathlib import Path
from typing import Any

import yaml

from rapid.platform.errors import RapidError

KeyPath = tuple[str | int, ...]

# Bounds that keep reading any file fast and small. A spec is a page of YAML: these are far
# above any real one, and far below what a "billion laughs" alias bomb or a pasted blob needs.
MAX_SPEC_BYTES = 1_000_000
MAX_NODES = 100_000  # values once every alias is expanded
MAX_DEPTH = 50
MAX_STRING = 10_000


class SpecLoader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-4` and `3E5` as floats (YAML 1.2 does, PyYAML doesn't)."""


SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _unique_keys(loader: SpecLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """A mapping whose keys are unique: YAML would let a repeated key silently replace the first."""
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            first_line = seen[key].start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"key '{key}' appears twice (also on line {first_line})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


SpecLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)


def parse_value(text: str) -> Any:
    """A single YAML value, as `--set key=value` gives it (so `3e-4` is a float, `[1, 2]` a list)."""
    try:
        return yaml.load(text, Loader=SpecLoader) if text.strip() else ""
    except yaml.YAMLError:
        return text


def _key_lines(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (key_node.value,)
            lines[path] = key_node.start_mark.line + 1
            _key_lines(value_node, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _key_lines(item, prefix + (index,), lines)


def _check_size(node: yaml.Node, source: str) -> None:
    """RapidError when the document expands (aliases copied out) past MAX_NODES, nests past
    MAX_DEPTH, refers to itself, or holds a string longer than MAX_STRING; linear in the file."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise RapidError(f"{source}: line {node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
        if id(node) in sizes:
            if sizes[id(node)] < 0:
                raise RapidError(f"{source}: line {node.start_mark.line + 1}: an alias refers to a value that contains it")
            return sizes[id(node)]
        sizes[id(node)] = -1
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) > MAX_STRING:
                line = node.start_mark.line + 1
                raise RapidError(f"{source}: line {line}: a value of {len(node.value):,} characters; at most {MAX_STRING:,}")
            total = 1
        else:
            children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
            total = 1 + sum(size(child, depth + 1) for child in children)
        if total > MAX_NODES:
            raise RapidError(
                f"{source}: line {node.start_mark.line + 1}: expands to more than {MAX_NODES:,} values "
                "(YAML aliases copied out); a spec is far smaller"
            )
        sizes[id(node)] = total
        return total

    size(node, 0)


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The mapping in `path` and the line of every key in it; RapidError on anything else."""
    try:
        if path.is_file() and path.stat().st_size > MAX_SPEC_BYTES:
            raise RapidError(f"{path}: {path.stat().st_size:,} bytes; a job spec is at most {MAX_SPEC_BYTES:,}")
        text = path.read_text()
    except FileNotFoundError:
        raise RapidError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RapidError(f"{path}: is a folder, expected a YAML job spec file") from None
    except PermissionError:
        raise RapidError(f"{path}: not readable (permission denied)") from None
    except UnicodeDecodeError as err:
        raise RapidError(f"{path}: not a text file ({err.reason} at byte {err.start}); expected YAML") from None
    try:
        node = yaml.compose(text, Loader=SpecLoader)
        if node is not None:
            _check_size(node, str(path))
        data = yaml.load(text, Loader=SpecLoader)
    except RecursionError:
        raise RapidError(f"{path}: nested more than {MAX_DEPTH} levels deep") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise RapidError(f"{path}: YAML syntax error at {where}: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise RapidError(f"{path}: not YAML: {err}") from None
    if not isinstance(data, dict):
        raise RapidError(f"{path}: expected a mapping of keys (kind: ..., name: ...), got {type(data).__name__}")
    lines: dict[KeyPath, int] = {}
    _key_lines(node, (), lines)
    return data, lines
