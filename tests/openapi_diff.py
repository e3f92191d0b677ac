"""An OpenAPI diff of our client API document against the hosted service's published one, on the
operations a QBO bank feed uses (issue 13).

For each such operation it reports what a client written against the published document would
miss in ours: the path and method, the operationId, each published status code, each property the
published 2xx responses require (through nested objects and array items) that ours lacks or does
not require, each request-body property we require and the published body does not (that client
would not send it), each published request-body property we do not accept, and each published
query parameter. Where the published schema offers alternatives (`oneOf`/`anyOf`, e.g. version 1
and version 2 of a source account), ours is compared with the closest one: the one with the fewest
problems, named in the messages.

`extension_problems()` checks the other direction: what we add (operations, parameters,
properties) carries the `x-linksite-extension` marker.

    python tests/openapi_diff.py          # prints the problems, one a line
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PUBLISHED = Path(os.environ.get("PUBLISHED_OAS", "/work/shared/oas/Codat-Bank-Feeds.json"))
# The hosted service's platform API, for its webhook consumers (issue 15): its `/webhooks` paths
# are checked as if the bank-feeds document had them.
PLATFORM = Path(os.environ.get("PUBLISHED_PLATFORM_OAS", PUBLISHED.parent / "Codat-Platform.json"))
PLATFORM_PATHS = ("/webhooks", "/webhooks/{webhookId}")
OUR_PREFIX = "/api/v1"
MARKER = "x-linksite-extension"
METHODS = ("get", "put", "post", "delete", "patch")

# The published operations a QBO bank feed needs (not: access tokens, data/bankAccounts, options,
# creating bank accounts, mappings, company information, OTP, managed bank feeds).
QBO_OPERATIONS = (
    "create-company",
    "list-companies",
    "get-company",
    "delete-company",
    "replace-company",
    "update-company",
    "list-connections",
    "create-connection",
    "get-connection",
    "delete-connection",
    "unlink-connection",
    "create-batch-source-account",
    "create-source-account",
    "list-source-accounts",
    "update-source-account",
    "delete-source-account",
    "generate-credentials",
    "delete-bank-feed-credentials",
    "create-bank-transactions",
    "get-create-operation",
    "list-create-operations",
    "create-webhook-consumer",
    "list-webhook-consumers",
    "delete-webhook-consumer",
)

Doc = dict[str, Any]
Schema = dict[str, Any]


def published_document() -> Doc:
    """The bank-feeds document, with the platform document's webhook-consumer paths added
    (their references resolved in place, so that no schema name of one meets the other's)."""
    document = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    if PLATFORM.is_file():
        platform = json.loads(PLATFORM.read_text(encoding="utf-8"))
        for path in PLATFORM_PATHS:
            if path in platform.get("paths", {}):
                document["paths"][path] = _inlined(platform, platform["paths"][path])
    return document


def _inlined(doc: Doc, node: Any, depth: int = 0) -> Any:
    """`node` with every `$ref` into `doc` replaced by what it points to."""
    if depth > 30:
        return {}
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            target = pointer(doc, node["$ref"])
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _inlined(doc, {**target, **rest}, depth + 1)
        return {k: _inlined(doc, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(doc, v, depth + 1) for v in node]
    return node


def our_document() -> Doc:
    from feeds.api import api

    return api.get_openapi_schema()


# Resolving ------------------------------------------------------------------------------------


def pointer(doc: Doc, ref: str) -> Any:
    """The node a local `$ref` ("#/a/b/c", JSON-pointer escaped) points at."""
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def deref(doc: Doc, node: Any) -> Any:
    """The node with its `$ref` followed (repeatedly); keys beside the `$ref` win over the
    target's, as OpenAPI 3.1 allows."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise ValueError(f"circular $ref {ref}")
        seen.add(ref)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        node = {**pointer(doc, ref), **siblings}
    return node


def _ref_name(node: Any) -> str:
    """A short name for an alternative: the last part of its `$ref` (of its items' for an
    inline array)."""
    if not isinstance(node, dict):
        return "alternative"
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1]
    if isinstance(node.get("items"), dict) and "$ref" in node["items"]:
        return _ref_name(node["items"]) + "[]"
    return "alternative"


def alternatives(doc: Doc, schema: Schema | None) -> list[tuple[str, Schema]]:
    """The shapes a value of the schema may take, each (name, schema): one unless it is a
    `oneOf`/`anyOf`; a `null` alternative (how pydantic writes Optional) is dropped."""
    if schema is None:
        return [("no schema", {})]
    schema = deref(doc, schema)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if not branches:
        return [("", schema)]
    rest = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
    found = []
    for branch in branches:
        resolved = deref(doc, branch)
        if resolved.get("type") == "null":
            continue
        for name, variant in alternatives(doc, {**rest, **resolved}):
            found.append((name or _ref_name(branch), variant))
    return found or [("", {})]


def shape(doc: Doc, schema: Schema | None) -> tuple[dict[str, Schema], set[str], Schema | None]:
    """An object's properties and required names with `allOf` merged, and, for an array, its
    item schema (third value; None for anything else)."""
    if not schema:
        return {}, set(), None
    schema = deref(doc, schema)
    properties = dict(schema.get("properties", {}))
    required = set(schema.get("required", ()))
    items = schema.get("items") if schema.get("type") == "array" else None
    for part in schema.get("allOf", ()):
        more, more_required, more_items = shape(doc, part)
        properties.update(more)
        required |= more_required
        items = items or more_items
    return properties, required, items


def _best_pairing(
    pub: Doc, ours: Doc, pub_schema: Any, our_schema: Any, where: str, compare: Any
) -> list[str]:
    """`compare(pub, ours, published alternative, our alternative, where)`'s problems for the
    pairing of alternatives with the fewest."""
    our_options = alternatives(ours, our_schema)

    def against_ours(label: str, alternative: Schema) -> list[str]:
        results = [compare(pub, ours, alternative, mine, label) for _, mine in our_options]
        return min(results, key=len)

    return _closest(pub, pub_schema, against_ours, where)


def _closest(doc: Doc, schema: Schema | None, compare: Any, where: str) -> list[str]:
    """`compare(where, alternative)`'s problems for the alternative with the fewest."""
    options = alternatives(doc, schema)
    results = []
    for name, alternative in options:
        label = f"{where} (as {name})" if len(options) > 1 and name else where
        results.append(compare(label, alternative))
    return min(results, key=len)


# Comparing ------------------------------------------------------------------------------------


def missing_required(
    pub: Doc, ours: Doc, pub_schema: Any, our_schema: Any, where: str
) -> list[str]:
    """Required properties of the published response schema, recursively, that ours lacks or
    does not require."""
    return _best_pairing(pub, ours, pub_schema, our_schema, where, _compare_required)


def _compare_required(pub: Doc, ours: Doc, pub_schema: Schema, our_schema: Schema, where: str):
    pub_props, pub_required, pub_items = shape(pub, pub_schema)
    our_props, our_required, our_items = shape(ours, our_schema)
    problems = []
    if pub_items is not None:
        if our_items is None:
            return [f"{where}: published an array, ours is not"]
        return missing_required(pub, ours, pub_items, our_items, f"{where}[]")
    for name in sorted(pub_required):
        if name not in our_props:
            problems.append(f"{where}: lacks required '{name}'")
        elif name not in our_required:
            problems.append(f"{where}: does not require '{name}'")
    for name in sorted(pub_props.keys() & our_props.keys()):
        problems += missing_required(pub, ours, pub_props[name], our_props[name], f"{where}.{name}")
    return problems


def unaccepted_body(pub: Doc, ours: Doc, pub_schema: Any, our_schema: Any, where: str) -> list[str]:
    """Properties we require that the published body does not, and published properties we
    do not accept, recursively."""
    return _best_pairing(pub, ours, pub_schema, our_schema, where, _compare_body)


def _compare_body(pub: Doc, ours: Doc, pub_schema: Schema, our_schema: Schema, where: str):
    pub_props, pub_required, pub_items = shape(pub, pub_schema)
    our_props, our_required, our_items = shape(ours, our_schema)
    if pub_items is not None:
        if our_items is None:
            return [f"{where}: published an array, ours is not"]
        return unaccepted_body(pub, ours, pub_items, our_items, f"{where}[]")
    problems = []
    for name in sorted(our_required - pub_required):
        problems.append(f"{where}: requires '{name}', the published body does not")
    for name in sorted(pub_props.keys() - our_props.keys()):
        problems.append(f"{where}: does not accept published '{name}'")
    for name in sorted(pub_props.keys() & our_props.keys()):
        problems += unaccepted_body(pub, ours, pub_props[name], our_props[name], f"{where}.{name}")
    return problems


def _json_schema(doc: Doc, holder: Any) -> Schema | None:
    """The application/json schema of a request body or response, if any."""
    holder = deref(doc, holder) or {}
    content = holder.get("content", {}).get("application/json")
    return None if content is None else content.get("schema") or {}


def _query_names(doc: Doc, path_item: Doc, operation: Doc) -> set[str]:
    parameters = [deref(doc, p) for p in path_item.get("parameters", [])]
    parameters += [deref(doc, p) for p in operation.get("parameters", [])]
    return {p["name"] for p in parameters if p.get("in") == "query"}


def operations(doc: Doc, prefix: str = "") -> Iterator[tuple[str, str, Doc, Doc]]:
    """(method, path without prefix, path item, operation) for every operation."""
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield method, path.removeprefix(prefix), item, item[method]


def check_operation(pub: Doc, ours: Doc, operation_id: str) -> list[str]:
    """What a client of the published operation would miss in ours."""
    found = [(m, p, i, o) for m, p, i, o in operations(pub) if o.get("operationId") == operation_id]
    if not found:
        return [f"{operation_id}: not in the published document"]
    method, path, pub_item, pub_op = found[0]
    name = operation_id
    our_item = ours.get("paths", {}).get(OUR_PREFIX + path, {})
    our_op = our_item.get(method)
    if our_op is None:
        return [f"{name}: {method.upper()} {path} is missing"]
    problems = []
    if our_op.get("operationId") != operation_id:
        problems.append(f"{name}: operationId is {our_op.get('operationId')!r}")
    our_responses = {str(code): r for code, r in our_op.get("responses", {}).items()}
    for code, response in pub_op.get("responses", {}).items():
        if code not in our_responses:
            problems.append(f"{name}: status {code} is not documented")
            continue
        pub_schema = _json_schema(pub, response)
        if code.startswith("2") and pub_schema is not None:
            our_schema = _json_schema(ours, our_responses[code])
            problems += missing_required(pub, ours, pub_schema, our_schema, f"{name}: {code}")
    if "requestBody" in pub_op:
        pub_schema = _json_schema(pub, pub_op["requestBody"])
        our_schema = _json_schema(ours, our_op.get("requestBody", {}))
        if our_schema is None:
            problems.append(f"{name}: takes no request body")
        elif pub_schema:
            problems += unaccepted_body(pub, ours, pub_schema, our_schema, f"{name}: body")
    for query in sorted(_query_names(pub, pub_item, pub_op) - _query_names(ours, our_item, our_op)):
        problems.append(f"{name}: query parameter '{query}' is missing")
    return problems


def problems(pub: Doc | None = None, ours: Doc | None = None) -> list[str]:
    pub = published_document() if pub is None else pub
    ours = our_document() if ours is None else ours
    return [problem for op_id in QBO_OPERATIONS for problem in check_operation(pub, ours, op_id)]


# Extensions -----------------------------------------------------------------------------------


def _marked(node: Any) -> bool:
    return isinstance(node, dict) and node.get(MARKER) is True


def _unmarked_properties(pub: Doc, ours: Doc, pub_schema: Any, our_schema: Any, where: str):
    """Properties of ours, recursively, that the (closest) published schema lacks and that are
    not marked."""

    def compare(label: str, alternative: Schema) -> list[str]:
        best = None
        for _, our_alternative in alternatives(ours, our_schema):
            pub_props, _, pub_items = shape(pub, alternative)
            our_props, _, our_items = shape(ours, our_alternative)
            if pub_items is not None and our_items is not None:
                found = _unmarked_properties(pub, ours, pub_items, our_items, f"{label}[]")
            else:
                found = [
                    f"{label}: property '{name}' is ours only and not marked"
                    for name in sorted(our_props.keys() - pub_props.keys())
                    if not _marked(our_props[name])
                ]
                for name in sorted(pub_props.keys() & our_props.keys()):
                    found += _unmarked_properties(
                        pub, ours, pub_props[name], our_props[name], f"{label}.{name}"
                    )
            if best is None or len(found) < len(best):
                best = found
        return best or []

    return _closest(pub, pub_schema, compare, where)


def extension_problems(pub: Doc | None = None, ours: Doc | None = None) -> list[str]:
    """What our document adds without the marker: operations the published document does not
    have, parameters of a published operation it does not list, and properties of a published
    operation's 2xx responses and request body that its schemas do not have."""
    pub = published_document() if pub is None else pub
    ours = our_document() if ours is None else ours
    published = {(m, p): (i, o) for m, p, i, o in operations(pub)}
    found = []
    for method, path, _, our_op in operations(ours, OUR_PREFIX):
        name = f"{our_op.get('operationId')} ({method.upper()} {path})"
        if (method, path) not in published:
            if not _marked(our_op):
                found.append(f"{name}: operation is ours only and not marked")
            continue
        pub_item, pub_op = published[(method, path)]
        pub_params = [
            deref(pub, p) for p in pub_item.get("parameters", []) + pub_op.get("parameters", [])
        ]
        known = {(p["in"], p["name"]) for p in pub_params}
        for parameter in our_op.get("parameters", []):
            parameter = deref(ours, parameter)
            if (parameter["in"], parameter["name"]) not in known and not _marked(parameter):
                found.append(f"{name}: parameter '{parameter['name']}' is ours only and not marked")
        for code, response in our_op.get("responses", {}).items():
            pub_response = pub_op.get("responses", {}).get(str(code))
            if str(code).startswith("2") and pub_response is not None:
                found += _unmarked_properties(
                    pub,
                    ours,
                    _json_schema(pub, pub_response),
                    _json_schema(ours, response),
                    f"{name}: {code}",
                )
        if "requestBody" in our_op and _json_schema(pub, pub_op.get("requestBody", {})):
            found += _unmarked_properties(
                pub,
                ours,
                _json_schema(pub, pub_op["requestBody"]),
                _json_schema(ours, our_op["requestBody"]),
                f"{name}: body",
            )
    return found


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    ours = our_document()
    pub = published_document()
    found = problems(pub, ours)
    print("\n".join(found) or "No problem found.")
    extensions = extension_problems(pub, ours)
    if extensions:
        print("\nUnmarked extensions:\n" + "\n".join(extensions))
    return 1 if found or extensions else 0


if __name__ == "__main__":
    sys.exit(main())
