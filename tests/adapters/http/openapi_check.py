#!/usr/bin/env python3
"""Checks adapters/http/openapi.yaml: a valid OpenAPI 3.1 document that describes every route of
the router's table (adapters/http/router.cc) with its method, and no route the API lacks."""
import re
import sys

import yaml
from openapi_spec_validator import validate

source_dir = sys.argv[1]
with open(f"{source_dir}/adapters/http/openapi.yaml", encoding="utf-8") as f:
    spec = yaml.safe_load(f)
validate(spec)

with open(f"{source_dir}/adapters/http/router.cc", encoding="utf-8") as f:
    router = f.read()
# RouteSpec{"POST", "/v1/..." "..." , RouteId::k...}: adjacent string literals are concatenated.
routes = set()
for m in re.finditer(r'RouteSpec\{"(\w+)",((?:\s*"[^"]*")+),\s*RouteId::', router):
    path = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    routes.add((m.group(1).lower(), path))
documented = {(method, path) for path, item in spec["paths"].items()
              for method in item if method in ("get", "post", "put", "delete", "patch")}
missing = routes - documented
extra = documented - routes
for method, path in sorted(missing):
    print(f"undocumented route: {method.upper()} {path}")
for method, path in sorted(extra):
    print(f"documented but not routed: {method.upper()} {path}")
if missing or extra or not routes:
    sys.exit(1)
print(f"openapi.yaml is valid and documents all {len(routes)} routes")
