"""The constants the kernels share across languages agree: csrc/common/op_constants.h (C++ and CUDA),
kernels/_lp.py and kernels/f_divergence.py (Triton), omasgan/divergences.py (Python)."""
import math
import re
from pathlib import Path

import pytest

from omasgan import divergences

ROOT = Path(__file__).resolve().parents[1]
HEADER = ROOT / "csrc" / "common" / "op_constants.h"


def _source(path: Path) -> str:
    """The text without // and /* */ comments."""
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", path.read_text(), flags=re.S)


def _enum(name: str) -> dict[str, int]:
    body = re.search(r"enum\s+(?:class\s+)?" + name + r"\s*(?::\s*\w+)?\s*\{([^}]*)\}", _source(HEADER))
    assert body, f"no enum {name} in {HEADER}"
    values, nxt = {}, 0
    for item in filter(None, (i.strip() for i in body.group(1).split(","))):
        key, _, value = (s.strip() for s in item.partition("="))
        nxt = int(value) if value else nxt
        values[key] = nxt
        nxt += 1
    return values


def _constant(name: str) -> int:
    found = re.search(r"constexpr\s+\w+\s+" + name + r"\s*=\s*(\d+)\s*;", _source(HEADER))
    assert found, f"no constexpr {name} in {HEADER}"
    return int(found.group(1))


def _lp():
    pytest.importorskip("triton")
    from omasgan.kernels import _lp

    return _lp


def test_norm_kinds_match_triton():
    lp = _lp()
    kinds = _enum("NormKind")
    assert kinds == {"L1": lp.P_ONE.value, "L2": lp.P_TWO.value, "Inf": lp.P_INF.value,
                     "Integer": lp.P_INT.value, "General": lp.P_GENERAL.value}
    assert len(set(kinds.values())) == len(kinds)


def test_integer_p_cutoff_matches_triton():
    lp = _lp()
    cutoff = _constant("kMaxIntegerP")
    assert cutoff == lp.LARGEST_INT_P
    kinds = _enum("NormKind")

    def header_kind(p):  # norm_kind() of op_constants.h
        if p == 1.0:
            return kinds["L1"]
        if p == 2.0:
            return kinds["L2"]
        if math.isinf(p):
            return kinds["Inf"]
        return kinds["Integer"] if p == math.floor(p) and p <= cutoff else kinds["General"]

    for p in (1.0, 1.5, 2.0, 2.5, 3.0, float(cutoff), cutoff + 1.0, cutoff + 0.5, 100.0, math.inf):
        kind, power = lp.p_kind(p)
        assert kind == header_kind(p), p
        assert power == (int(p) if kind == kinds["Integer"] else 0), p
    assert "p <= kMaxIntegerP" in _source(HEADER)


def test_divergence_codes_match_python_and_triton():
    codes = _enum("DivergenceCode")
    assert _constant("kDivergenceCount") == len(divergences._TABLE) == len(codes)
    by_name = {key[1:].lower(): value for key, value in codes.items()}  # kReverseKL -> reversekl
    for index, div in enumerate(divergences._TABLE):
        assert div.code == index, div.name
        assert by_name[div.name.replace("_", "")] == div.code, div.name
    assert codes["kNeyman"] == divergences.NEYMAN_CODE
    pytest.importorskip("triton")
    from omasgan.kernels import f_divergence as tk

    for div in divergences._TABLE:
        assert getattr(tk, div.name.upper()).value == div.code, div.name


def test_defined_once():
    """No kernel source defines its own copy of these constants."""
    own = re.compile(r"enum\s+(class\s+)?(Kind|Norm|NormKind|Code|DivergenceCode)\b|kMaxIntegerP\s*=|kDivergenceCount\s*="
                     r"|p\s*<=\s*8(\.0)?\b")
    for path in sorted((ROOT / "csrc").rglob("*")):
        if path.suffix in (".h", ".cuh", ".cpp", ".cu") and path != HEADER:
            assert not own.search(_source(path)), f"{path.relative_to(ROOT)} defines a shared constant itself"
    for path in sorted((ROOT / "kernels").glob("*.py")):
        text = path.read_text()
        assert not re.search(r"CODE\s*==\s*\d", text), f"{path.name} compares a divergence code with a literal"
        if path.name != "_lp.py":
            assert "LARGEST_INT_P =" not in text and "tl.constexpr(i) for i in range(5)" not in text, path.name
