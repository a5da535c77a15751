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
(twilio/sendgrid-oai), twilio (twilio/twilio-oai), digitalocean (digitalocean/openapi), okta
(okta/okta-management-openapi-spec), discord (discord/discord-api-spec), figma
(figma/rest-api-spec), together (togethercomputer/openapi), mistral
(mistralai/platform-docs-public), pinecone (pinecone-io/pinecone-api), hubspot
(HubSpot/HubSpot-public-api-spec-collection), cohere (cohere-ai/cohere-developer-experience),
elevenlabs (elevenlabs/elevenlabs-docs), deepgram (deepgram/deepgram-api-specs), firecrawl
(firecrawl/firecrawl, apps/api), notion (makenotion/notion-mcp-server), crates-io (rust-lang/crates.io), assemblyai (AssemblyAI/assemblyai-api-spec), netlify (netlify/open-api), github (github/docs' REST data files),
stripe (stripe/openapi's fixtures), datadog (DataDog/datadog-api-client-python, whose
.generator/schemas hold Datadog's published description).

The source may be a git directory (read at HEAD, e.g. a `fetch` mirror), a work tree, or the
description file itself; JSON or YAML, one file or several joined by relative `$ref`s. An
excerpt keeps, per route and status, only what a response must look like: types, required
fields, enums, patterns, closed objects, array items, alternatives; a status documented
without a body is kept as `"no_body": true`. Excerpts derived from a git directory record its
commit; `--check` compares everything but the commit, and names both.
"""

import json
import os
import posixpath
import subprocess
import sys

try:
    import yaml
except ImportError:  # only the YAML descriptions need it
    yaml = None

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
            ("get", "/files", "200"),
            ("get", "/batches", "200"),
            ("get", "/fine_tuning/jobs", "200"),
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
            ("spec/json/twilio_iam_v1.json", "delete", "/v1/Keys/{Sid}", "204"),
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
            ("get", "/conversations.list", "200"),
            ("get", "/conversations.list", "default"),
        ],
    },
    # GitHub's description as octokit publishes it (the npm package @octokit/openapi, built from
    # github/rest-api-description, which is too large to mirror here): SOURCE is the unpacked
    # package directory, whose package.json names the version recorded.
    "github": {
        "repo": "octokit/openapi",
        "file": "generated/api.github.com.json",
        "package": "@octokit/openapi",
        "routes": [
            ("get", "/user", "200"),
            ("get", "/user", "401"),
            ("post", "/credentials/revoke", "202"),
            ("get", "/installation/repositories", "200"),
            ("delete", "/installation/token", "204"),
            ("get", "/user/memberships/orgs", "200"),
            ("get", "/user/repos", "200"),
        ],
    },
    # Stripe's description (openapi/spec3.json) is too large to mirror here; its fixtures, the
    # published example of each resource in spec3, are read instead: each field the resource
    # has, with the JSON type of its example value or null, its `object` name, and no other
    # field (Stripe answers every field of a resource, null when unset).
    "stripe": {
        "repo": "stripe/openapi",
        "format": "fixtures",
        "title": "Stripe API v1 (fixtures of spec3)",
        "version": "fixtures3",
        "file": "openapi/fixtures3.json",
        "routes": [
            ("get", "/v1/account", "200", "account"),
        ],
    },
    "discord": {
        "repo": "discord/discord-api-spec",
        "file": "specs/openapi.json",
        "routes": [
            ("get", "/users/@me", "200"),
            ("get", "/users/@me", "4XX"),
        ],
    },
    "figma": {
        "repo": "figma/rest-api-spec",
        "file": "openapi/openapi.yaml",
        "routes": [
            ("get", "/v1/me", "200"),
            ("get", "/v1/me", "403"),
        ],
    },
    "netlify": {
        "repo": "netlify/open-api",
        "file": "swagger.yml",
        "routes": [
            ("get", "/user", "200"),
            ("get", "/user", "default"),
        ],
    },
    "assemblyai": {
        "repo": "AssemblyAI/assemblyai-api-spec",
        "file": "openapi.yml",
        "routes": [
            ("get", "/v2/transcript", "200"),
            ("get", "/v2/transcript", "401"),
        ],
    },
    "together": {
        "repo": "togethercomputer/openapi",
        "file": "openapi.yaml",
        "routes": [("get", "/models", "200"), ("get", "/models", "401")],
    },
    "mistral": {
        "repo": "mistralai/platform-docs-public",
        "file": "openapi.yaml",
        "routes": [("get", "/v1/models", "200")],
    },
    "pinecone": {
        "repo": "pinecone-io/pinecone-api",
        "file": "2025-10/db_control_2025-10.oas.yaml",
        "routes": [("get", "/indexes", "200"), ("get", "/indexes", "401")],
    },
    "hubspot": {
        "repo": "HubSpot/HubSpot-public-api-spec-collection",
        "file": "PublicApiSpecs/Account/Account Info/Rollouts/144923/v3/accountInfo.json",
        "routes": [("get", "/account-info/v3/details", "200"), ("get", "/account-info/v3/details", "default")],
    },
    "cohere": {
        "repo": "cohere-ai/cohere-developer-experience",
        "file": "cohere-openapi.yaml",
        "routes": [("post", "/v1/check-api-key", "200"), ("post", "/v1/check-api-key", "401")],
    },
    "elevenlabs": {
        "repo": "elevenlabs/elevenlabs-docs",
        "file": "fern/apis/api/openapi.json",
        "routes": [("get", "/v1/user", "200")],
    },
    # crates.io serves its description at /api/openapi.json; the repository keeps it as the
    # snapshot its test compares that answer with.
    "crates-io": {
        "repo": "rust-lang/crates.io",
        "file": "src/tests/snapshots/integration__openapi__openapi_snapshot-2.snap",
        "routes": [("delete", "/api/v1/tokens/current", "204")],
    },
    "deepgram": {
        "repo": "deepgram/deepgram-api-specs",
        "file": "openapi.yml",
        "routes": [("get", "/v1/projects", "200")],
    },
    "firecrawl": {
        "repo": "firecrawl/firecrawl",
        "file": "apps/api/v1-openapi.json",
        "routes": [("get", "/team/credit-usage", "200")],
    },
    # Notion's own description of its API, as its MCP server (makenotion) builds its tools from.
    "notion": {
        "repo": "makenotion/notion-mcp-server",
        "file": "scripts/notion-openapi.json",
        "routes": [("get", "/v1/users/me", "200")],
    },
    "digitalocean": {
        "repo": "digitalocean/openapi",
        "file": "specification/DigitalOcean-public.v2.yaml",
        "routes": [
            ("get", "/v2/account", "200"),
            ("get", "/v2/account", "401"),
        ],
    },
    "okta": {
        "repo": "okta/okta-management-openapi-spec",
        "file": "dist/2026.06.3/management-minimal.yaml",
        "routes": [
            ("get", "/api/v1/users/{id}", "200"),
            ("get", "/api/v1/users/{id}", "403"),
            ("delete", "/api/v1/api-tokens/current", "204"),
        ],
    },
    "datadog": {
        "repo": "DataDog/datadog-api-client-python",
        "file": ".generator/schemas/v1/openapi.yaml",
        "routes": [
            ("get", "/api/v1/validate", "200"),
            ("get", "/api/v1/validate", "403"),
            ("get", "/api/v1/dashboard", "200"),
            ("get", "/api/v1/dashboard", "403"),
        ],
    },
}

MAX_DEPTH = 8


def parse(name, text):
    if name.endswith(".snap"):  # an insta snapshot: a `---` header, then the value
        text = text.split("\n---\n", 1)[1]
    if name.endswith((".yaml", ".yml")):
        if yaml is None:
            sys.exit(f"{name} is YAML: install PyYAML to read it")
        return yaml.safe_load(text)
    return json.loads(text)


def load(source, name):
    path = os.path.join(source, name)
    if os.path.isfile(source):
        with open(source, encoding="utf-8") as f:
            return parse(source, f.read())
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return parse(name, f.read())
    out = subprocess.run(
        ["git", "--git-dir", source, "show", f"HEAD:{name}"],
        check=True,
        capture_output=True,
    ).stdout
    return parse(name, out.decode("utf-8"))


def commit_of(source):
    """The commit a git-directory source is read at, or None for a file or work tree."""
    if not os.path.isfile(os.path.join(source, "HEAD")):
        return None
    out = subprocess.run(
        ["git", "--git-dir", source, "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or None


class Docs:
    """The description's files, loaded once each; a reference is resolved against the file
    that holds it (`other.yml#/a/b`, `other.yml`, or `#/a/b`)."""

    def __init__(self, source):
        self.source, self.files = source, {}

    def get(self, name):
        if name not in self.files:
            self.files[name] = load(self.source, name)
        return self.files[name]

    def resolve(self, here, ref):
        target, _, pointer = ref.partition("#")
        name = posixpath.normpath(posixpath.join(posixpath.dirname(here), target)) if target else here
        node = self.get(name)
        for seg in [x for x in pointer.split("/") if x]:
            node = node[seg.replace("~1", "/").replace("~0", "~")]
        return name, node


def reduce(docs, here, s, depth=0):
    """The parts of schema `s` (held in file `here`) that constrain a response, with
    references resolved."""
    if depth > MAX_DEPTH or not isinstance(s, dict):
        return {}
    if "$ref" in s:
        there, node = docs.resolve(here, s["$ref"])
        return reduce(docs, there, node, depth + 1)
    if "allOf" in s:
        merged = {"type": ["object"], "properties": {}, "required": []}
        for part in s["allOf"]:
            r = reduce(docs, here, part, depth + 1)
            merged["properties"].update(r.get("properties", {}))
            merged["required"] += r.get("required", [])
        merged["required"] = sorted(set(merged["required"]))
        return merged
    out = {}
    for key in ("anyOf", "oneOf"):
        if key in s:
            out["any_of"] = [reduce(docs, here, x, depth + 1) for x in s[key]]
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
            k: reduce(docs, here, v, depth + 1) for k, v in sorted(s["properties"].items())
        }
    if s.get("required"):
        out["required"] = sorted(s["required"])
    if s.get("additionalProperties") is False:
        out["closed"] = True
    if "items" in s:
        out["items"] = reduce(docs, here, s["items"], depth + 1)
    return out


def fixture_schema(value, depth=0):
    """The shape of an example value: its JSON type or null (one example cannot say a field
    is never null), and for an object its fields, all required and no others at the top
    level, typed below it."""
    if value is None:
        return {}
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    out = {"type": [kind[type(value)]] if depth == 0 else sorted([kind[type(value)], "null"])}
    if isinstance(value, dict) and depth < MAX_DEPTH:
        out["properties"] = {k: fixture_schema(v, depth + 1) for k, v in sorted(value.items())}
        if depth == 0:
            out["required"], out["closed"] = sorted(value), True
            if isinstance(value.get("object"), str):
                out["properties"]["object"]["enum"] = [value["object"]]
    return out


def response_schema(docs, file, method, path, status):
    """The file holding the response schema and the schema, or (file, None) for a status
    documented without a body."""
    here, item = file, docs.get(file)["paths"][path]
    if "$ref" in item:
        here, item = docs.resolve(here, item["$ref"])
    op = item[method]
    if "$ref" in op:
        here, op = docs.resolve(here, op["$ref"])
    resp = op["responses"][status]
    if "$ref" in resp:
        here, resp = docs.resolve(here, resp["$ref"])
    if "content" in resp:  # OpenAPI 3: the JSON media type (some name it `*/*`)
        content = resp["content"]
        kind = next((k for k in ("application/json", "*/*") if k in content), None)
        kind = kind or next((k for k in content if "json" in k), None)
        if kind is None:
            return here, None
        return here, content[kind]["schema"]
    return here, resp.get("schema")  # Swagger 2


def derive(name, source):
    spec = SPECS[name]
    docs = Docs(source)
    files = set()
    routes = []
    for route in spec["routes"]:
        # (method, path, status) in the spec's file, or (file, method, path, status).
        if spec.get("format") == "fixtures":
            # (method, path, status, resource) in the fixtures file.
            (method, path, status, resource), file = route, spec["file"]
            files.add(file)
            entry = {"method": method.upper(), "path": path, "status": status, "resource": resource}
            entry["schema"] = fixture_schema(docs.get(file)["resources"][resource])
            routes.append(entry)
            continue
        file, (method, path, status) = (spec["file"], route) if len(route) == 3 else (route[0], route[1:])
        files.add(file)
        here, schema = response_schema(docs, file, method, path, status)
        entry = {"method": method.upper(), "path": path, "status": status}
        if schema is None:
            entry["no_body"] = True
        else:
            entry["schema"] = reduce(docs, here, schema)
        routes.append(entry)
    first = docs.get(spec["file"]) if spec["file"] in files else docs.get(sorted(files)[0])
    info = first.get("info") or {"title": spec["title"], "version": spec["version"]}
    out = {
        "spec": f"{spec['repo']} {', '.join(sorted(files))}",
        "title": info["title"],
        "version": str(info["version"]),
        "routes": routes,
    }
    commit = commit_of(source)
    if commit:
        out["commit"] = commit
    if spec.get("package"):
        with open(os.path.join(source, "package.json"), encoding="utf-8") as f:
            out["package"] = f"{spec['package']}@{json.load(f)['version']}"
    return out


def main(argv):
    if len(argv) < 3 or argv[1] not in SPECS:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(SPECS)}}} SOURCE [--check]")
    name, source = argv[1], argv[2]
    derived = derive(name, source)
    text = json.dumps(derived, indent=1, sort_keys=True) + "\n"
    if "--check" not in argv:
        sys.stdout.write(text)
        return
    committed_path = os.path.join(HERE, f"{name}.json")
    with open(committed_path, encoding="utf-8") as f:
        committed = json.load(f)
    at = (committed.pop("commit", None), derived.pop("commit", None))
    if committed != derived:
        sys.exit(
            f"{committed_path} (at {at[0]}) differs from what {source} (at {at[1]}) derives; "
            f"re-derive it with: {argv[0]} {name} {source} > {committed_path}"
        )
    print(f"{committed_path}: matches {name} {derived['version']} (excerpt at {at[0]}, source at {at[1]})")


if __name__ == "__main__":
    main(sys.argv)
