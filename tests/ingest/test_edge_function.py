"""The Edge Function as source: it type-checks, lints and is formatted, and TradingView needs no JWT."""

from __future__ import annotations

import subprocess
import tomllib

import pytest

from tests.ingest.targets import FUNCTION, ROOT, deno_env, deno_or_skip


@pytest.mark.parametrize("command", [["check", str(FUNCTION)], ["lint", str(FUNCTION.parent)],
                                     ["fmt", "--check", "--line-width", "120", str(FUNCTION.parent)]],
                         ids=["check", "lint", "fmt"])
def test_the_function_passes_deno(command: list[str]) -> None:
    deno = deno_or_skip()
    done = subprocess.run([str(deno), *command], env=deno_env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_function_takes_no_jwt_its_secret_is_in_the_path() -> None:
    config = tomllib.loads((ROOT / "supabase" / "config.toml").read_text(encoding="utf-8"))
    assert config["functions"]["tv"]["verify_jwt"] is False
