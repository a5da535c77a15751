#!/usr/bin/env python3
"""Re-derives the committed schema excerpts (tests/it/schemas/*.json) from the issuers' own
published OpenAPI descriptions, so that the simulator's answers are checked against what the
issuers publish and not against our reading of it.

The test suite reaches no network and fetched files are never committed, so the excerpts are
committed and this script proves them: run it against a mirror of the description and it
fails when the excerpt differs (the issuer changed its API, or the excerpt was edited by hand).

    tests/it/schemas/derive.py openai /path/to/openai-openapi            # prints the excerpt
    tests/it/schemas/derive.py openai /path/to/openai-openapi --check    # compares, exit 1

Specs: openai (openai/openai-openapi), slack (slackapi/slack-api-specs), sendgrid
(twilio/sendgrid-oai), twilio (twilio/twilio-oai).

The source may be a git directory (read at HEAD, e.g. a `fetch` mirror), a work tree, or the
description file itself. An excerpt keeps, per route and status, only what a response must
look like: types, required fields, enums, patterns, closed objects, array items, alternatives.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# The routes the simulator serves and the recipes use, per description: (method, path, status).
SPECS = {
    "openai": {
        "repo": "openai/openai-openapi",
        "file": "openapi.json",
        "routes": [
            ("get", "/models", "200"),
            ("get", "/organization/admin_api_keys", "200"),
            ("get", "/organization/projects", "200"),
            ("get", "/organization/projects/{project_id}/api_keys", "200"),
            ("delete", "/organization/projects/{project_id}/api_keys/{api_key_id}", "200"),
        ],
    },
    "sendgrid": {
        "repo": "twilio/sendgrid-oai",
        "file": "spec/json/tsg_api_keys_v3.json",
        "routes": [
            ("spec/json/tsg_scopes_v3.json", "get", "/v3/scopes", "200"),
            ("spec/json/tsg_scopes_v3.json", "get", "/v3/scopes", "401"),
            ("delete", "/v3/api_keys/{api_key_id}", "403"),
            ("delete", "/v3/api_keys/{api_key_id}", "404"),
        ],
    },
    "twilio": {
        "repo": "twilio/twilio-oai",
        "file": "spec/json/twilio_verify_v2.json",
        "routes": [
            ("get", "/v2/Services", "200"),
            ("spec/json/twilio_api_v2010.json", "get", "/2010-04-01/Accounts/{Sid}.json", "200"),
        ],
    },
    "slack": {
        "repo": "slackapi/slack-api-specs",
        "file": "web-api/slack_web_openapi_v2.json",
        "routes": [
            ("get", "/auth.test", "200"),
            ("get", "/auth.test", "default"),
            ("get", "/auth.revoke", "200"),
            ("get", "/auth.revoke", "default"),
        ],
    },
}

MAX_DEPTH = 8


def load(source, name):
    path = os.path.join(source, name)
    if os.path.isfile(source):
        with open(source, encoding="utf-8") as f:
            return json.load(f)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    out = subprocess.run(
        ["git", "--git-dir", source, "show", f"HEAD:{name}"],
        check=True,
        capture_output=True,
    ).stdout
    return json.loads(out)


def resolve(doc, ref):
    node = doc
    for seg in ref.lstrip("#/").split("/"):
        node = node[seg.replace("~1", "/").replace("~0", "~")]
    return node


def reduce(doc, s, depth=0):
    """The parts of schema `s` that constrain a response, with references resolved."""
    if depth > MAX_DEPTH or not isinstance(s, dict):
        return {}
    if "$ref" in s:
        return reduce(doc, resolve(doc, s["$ref"]), depth + 1)
    if "allOf" in s:
        merged = {"type": "object", "properties": {}, "required": []}
        for part in s["allOf"]:
            r = reduce(doc, part, depth + 1)
            merged["properties"].update(r.get("properties", {}))
            merged["required"] += r.get("required", [])
        merged["required"] = sorted(set(merged["required"]))
        return merged
    out = {}
    for key in ("anyOf", "oneOf"):
        if key in s:
            out["any_of"] = [reduce(doc, x, depth + 1) for x in s[key]]
    t = s.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if s.get("nullable") or s.get("x-nullable"):
            types = types + ["null"]
        out["type"] = sorted(set(types))
    if "enum" in s:
        out["enum"] = s["enum"]
    if "pattern" in s:
        out["pattern"] = s["pattern"]
    if "properties" in s:
        out["properties"] = {
            k: reduce(doc, v, depth + 1) for k, v in sorted(s["properties"].items())
        }
    if s.get("required"):
        out["required"] = sorted(s["required"])
    if s.get("additionalProperties") is False:
        out["closed"] = True
    if "items" in s:
        out["items"] = reduce(doc, s["items"], depth + 1)
    return out


def response_schema(doc, method, path, status):
    op = doc["paths"][path][method]
    resp = op["responses"][status]
    if "$ref" in resp:
        resp = resolve(doc, resp["$ref"])
    if "content" in resp:  # OpenAPI 3
        return resp["content"]["application/json"]["schema"]
    return resp["schema"]  # Swagger 2


def derive(name, source):
    spec = SPECS[name]
    docs = {}
    routes = []
    for route in spec["routes"]:
        # (method, path, status) in the spec's file, or (file, method, path, status).
        file, (method, path, status) = (spec["file"], route) if len(route) == 3 else (route[0], route[1:])
        if file not in docs:
            docs[file] = load(source, file)
        doc = docs[file]
        routes.append(
            {
                "method": method.upper(),
                "path": path,
                "status": status,
                "schema": reduce(doc, response_schema(doc, method, path, status)),
            }
        )
    first = docs[spec["file"]] if spec["file"] in docs else next(iter(docs.values()))
    return {
        "spec": f"{spec['repo']} {', '.join(sorted(docs))}",
        "title": first["info"]["title"],
        "version": first["info"]["version"],
        "routes": routes,
    }


def main(argv):
    if len(argv) < 3 or argv[1] not in SPECS:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(SPECS)}}} SOURCE [--check]")
    name, source = argv[1], argv[2]
    text = json.dumps(derive(name, source), indent=1, sort_keys=True) + "\n"
    if "--check" not in argv:
        sys.stdout.write(text)
        return
    committed_path = os.path.join(HERE, f"{name}.json")
    with open(committed_path, encoding="utf-8") as f:
        committed = f.read()
    if committed != text:
        sys.exit(
            f"{committed_path} differs from what {source} derives; "
            f"re-derive it with: {argv[0]} {name} {source} > {committed_path}"
        )
    print(f"{committed_path}: matches {name} {json.loads(text)['version']}")


if __name__ == "__main__":
    main(sys.argv)
