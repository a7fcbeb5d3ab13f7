"""Fuzz the HTTP shim with schemathesis against its own /openapi.json: no 5xx, JSON errors, schema conformance.

    python benchmarks/serve_fuzz.py out/lite0/efficientnet_lite0.onnx --max-examples 100 [--framework flask]

Starts ``edge-infer serve`` (the chosen framework) in a subprocess on loopback, saves its OpenAPI document (the
Flask variant serves the FastAPI app's, the contract both implement), and runs ``schemathesis run`` (dev extra) with
every check but positive_data_acceptance against that server. Exit status is schemathesis's (0 = no failures).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("artifact")
    p.add_argument("--framework", default="fastapi", help="server to fuzz: fastapi or flask")
    p.add_argument("--max-examples", type=int, default=100, help="examples per operation and phase")
    p.add_argument("--checks", default="all", help="schemathesis checks (default all)")
    p.add_argument("--report", default=None, help="save schemathesis's output here")
    args = p.parse_args(argv)

    import httpx

    from edge_infer.serve.core import ServeConfig
    from edge_infer.serve.server import ServerProcess

    config = ServeConfig(timeout_s=120.0)
    with tempfile.TemporaryDirectory() as tmp:
        schema = Path(tmp) / "openapi.json"
        with ServerProcess(args.artifact, args.framework, config=config) as srv:
            schema.write_bytes(httpx.get(f"{srv.url}/openapi.json", timeout=30).content)
            rc, out = _fuzz(schema, srv.url, args)
    print(out)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(out, encoding="utf-8")
    return rc


def _fuzz(schema: Path, url: str, args: argparse.Namespace) -> tuple[int, str]:
    exe = Path(sys.executable).with_name("schemathesis")
    # positive_data_acceptance is left out: a schema-valid base64 string or upload is rarely a decodable image, and
    # the shim rightly answers those with 400 "not an image"; every other check applies.
    cmd = [str(exe), "run", str(schema), "--url", url, "--checks", args.checks, "--workers", "1",
           "--exclude-checks", "positive_data_acceptance",
           "--max-examples", str(args.max_examples), "--phases", "examples,coverage,fuzzing",
           "--suppress-health-check", "too_slow,data_too_large", "--no-color"]  # fmt: skip
    # run inside the schema's temporary folder: schemathesis keeps a .schemathesis/ cache in its working directory
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=schema.parent)
    return proc.returncode, proc.stdout + proc.stderr


if __name__ == "__main__":
    sys.exit(main())
