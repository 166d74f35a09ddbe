"""A subset of tools/trace_conformance.py in CI: symbolic graphs re-run on real inputs
reproduce eager at least as often as torch's make_fx, and never return a wrong value.

The harness is the tool itself, loaded from the repository (tests cannot import
helpers next to them under --import-mode=importlib).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]
OPS = (
    "add|mul|div|matmul|sum|mean|softmax|log_softmax|reshape|view|cat|stack|transpose|permute|expand"
    "|unsqueeze|squeeze|narrow|split|chunk|index_select|gather|where|masked_fill|cumsum|topk|sort"
    "|nn.functional.layer_norm|nn.functional.linear|nn.functional.gelu|nn.functional.pad|nonzero|masked_select"
)


@pytest.fixture(scope="module")
def conformance() -> ModuleType:
    """tools/trace_conformance.py as a module (registered, so its dataclasses resolve)."""
    spec = importlib.util.spec_from_file_location("trace_conformance", ROOT / "tools" / "trace_conformance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["trace_conformance"] = module
    spec.loader.exec_module(module)
    return module


def test_subset_is_never_wrong_and_never_behind_torch(conformance: ModuleType) -> None:
    ops = conformance.select_ops(OPS, None)
    assert len(ops) >= 30
    results = conformance.run(ops, samples=2, timeout=60.0)
    assert len(results.outcomes) >= 60
    assert results.wrong("ours") == []
    assert results.regressions() == {}
    assert results.ok("ours") >= results.ok("torch")


def test_harness_sees_a_wrong_graph(conformance: ModuleType) -> None:
    eager = (torch.ones(3), 2)
    assert conformance.same(eager, (torch.ones(3), 2))
    assert not conformance.same(eager, (torch.ones(3) * 2, 2))
    assert not conformance.same(eager, (torch.ones(3), 3))
    assert not conformance.same(eager, [torch.ones(3), 2])
    assert conformance.same(eager, (torch.ones(3) * 2, 2), values=False)
    assert conformance.same(eager, [torch.ones(3), 2], structure=False)
    assert not conformance.same(eager, [torch.ones(3), 3], structure=False)
