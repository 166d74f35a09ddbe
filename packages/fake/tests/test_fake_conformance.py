"""Our FakeTensorMode against torch's, on a fixed subset of torch's OpInfo database.

The comparison logic is tools/fake_conformance.py (loaded from the repository
by path: tests cannot import tools/ as a package); the full database run is
that tool's job. Here ~60 ops that cover views, reductions, matmul, indexing,
convolution, norms, elementwise and data-dependent ops run eagerly, under
torch's FakeTensorMode and under ours, static and with a ShapeEnv. Ours must
match eager on at least as many samples as torch's does, op by op.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]

SUBSET = (
    # views
    "view", "reshape", "transpose", "permute", "expand", "squeeze", "unsqueeze", "narrow", "split",
    "diagonal", "as_strided", "unfold", "select", "contiguous",
    # reductions
    "sum", "mean", "amax", "var", "argmax", "cumsum", "logsumexp", "topk", "sort",
    # matmul
    "matmul", "bmm", "addmm", "einsum", "nn.functional.linear", "nn.functional.scaled_dot_product_attention",
    # indexing
    "index_select", "gather", "scatter", "index_put", "__getitem__", "index_add", "masked_fill",
    # convolution and pooling
    "nn.functional.conv2d", "nn.functional.conv_transpose2d", "nn.functional.max_pool2d",
    "nn.functional.interpolate.bilinear",
    # norms
    "nn.functional.layer_norm", "nn.functional.batch_norm", "nn.functional.group_norm", "softmax",
    # elementwise and the rest
    "add", "mul", "where", "clamp", "sigmoid", "addcmul", "cat", "stack", "nn.functional.pad.constant",
    "nn.functional.embedding", "new_zeros", "arange", "roll", "tril",
    # data-dependent
    "nonzero", "masked_select", "unique", "item", "repeat_interleave",
)


# Ops also run in every memory-layout variant of the tool (channels-last /
# channels-last-3d, transposed, sliced with a step): OP@VARIANT keys.
VARIANT_SUBSET = (
    "nn.functional.conv1d", "nn.functional.conv2d", "nn.functional.conv3d", "nn.functional.conv_transpose2d",
    "nn.functional.conv_transpose3d", "nn.functional.max_pool2d", "nn.functional.adaptive_avg_pool2d",
    "nn.functional.batch_norm", "nn.functional.interpolate.bilinear", "nn.functional.interpolate.nearest",
    "add", "mul", "var", "softmax", "matmul", "transpose", "contiguous", "clone", "cat",
)

CHANNELS_LAST_OPS = (
    "nn.functional.conv2d", "nn.functional.conv3d", "nn.functional.conv_transpose2d", "nn.functional.conv_transpose3d",
    "nn.functional.max_pool2d", "nn.functional.adaptive_avg_pool2d", "nn.functional.interpolate.bilinear",
)


def load_tool() -> ModuleType:
    """tools/fake_conformance.py as a module (registered, so its dataclasses resolve)."""
    spec = importlib.util.spec_from_file_location("fake_conformance", ROOT / "tools" / "fake_conformance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return load_tool()


@pytest.fixture(scope="module")
def runs(tool: ModuleType) -> dict[str, Any]:
    """Both passes over the subset, torch's side and ours, 4 samples per op, in a worker process."""
    sides = [
        tool.SideSpec("torch", tool.TORCH_FAKE, tool.TORCH_SHAPES, python_dispatcher=True),
        tool.SideSpec("ours", tool.OURS_FAKE, tool.OURS_SHAPES),
    ]
    static, symbolic = tool.run(SUBSET, sides, passes=("static", "symbolic"), samples=4, timeout=20.0)
    keys = [k for k in tool.variant_keys(VARIANT_SUBSET, list(tool.VARIANTS)) if "@" in k]
    static_variants, symbolic_variants = tool.run(keys, sides, passes=("static", "symbolic"), samples=4, timeout=20.0)
    return {"static": static, "symbolic": symbolic,
            "static-variants": static_variants, "symbolic-variants": symbolic_variants}


@pytest.fixture(params=["static", "symbolic", "static-variants", "symbolic-variants"])
def run(request: pytest.FixtureRequest, runs: dict[str, Any]) -> Any:
    return runs[request.param]


@pytest.mark.slow
def test_ours_matches_eager_as_often_as_torch_per_op(tool: ModuleType, run: Any) -> None:
    ours, theirs = tool.per_op(run, "ours"), tool.per_op(run, "torch")
    worse = tool.regressions(run, "ours", "torch")
    lines = [f"  {op} ({ours[op][0]}/{ours[op][1]} vs torch {theirs[op][0]}): {why}" for op, why in worse.items()]
    assert not worse, f"ours matches eager less often than torch on {len(worse)} ops:\n" + "\n".join(lines)


@pytest.mark.slow
def test_ours_matches_eager_as_often_as_torch_in_total(tool: ModuleType, run: Any) -> None:
    ours, theirs = tool.matches(run, "ours"), tool.matches(run, "torch")
    categories = dict(tool.categories(run, "ours"))
    assert ours >= theirs, f"{ours} samples match for ours, {theirs} for torch; ours fails by {categories}"


@pytest.mark.slow
def test_the_symbolic_pass_makes_symbolic_inputs(runs: dict[str, Any]) -> None:
    run = runs["symbolic"]
    counts = {side: sum(r.symbolic[side] for r in run.results) for side in run.sides}
    assert counts["ours"] >= counts["torch"] > 0, f"samples with a symbolic input size: {counts}"


@pytest.mark.slow
def test_every_op_of_the_subset_ran_samples(runs: dict[str, Any]) -> None:
    for name in ("static", "symbolic"):
        missing = sorted(set(SUBSET) - runs[name].ops)
        assert not missing, f"no sample ran (not an OpInfo on CPU in float32, or eager raised on all): {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["channels_last", "transposed", "sliced"])
def test_every_layout_variant_ran_samples(runs: dict[str, Any], variant: str) -> None:
    # Channels-last needs a 4-d or 5-d input among an op's first 4 samples.
    expected = set(CHANNELS_LAST_OPS if variant == "channels_last" else VARIANT_SUBSET)
    for name in ("static-variants", "symbolic-variants"):
        ran = {key.partition("@")[0] for key in runs[name].ops if key.endswith("@" + variant)}
        assert not expected - ran, f"{variant} ran on no sample of {sorted(expected - ran)} ({name})"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["static-variants", "symbolic-variants"])
def test_no_layout_variant_sample_fails_for_ours_where_torch_matches(runs: dict[str, Any], name: str) -> None:
    worse = [f"{r.op} #{r.index}: {r.outcomes['ours']}" for r in runs[name].results
             if r.outcomes["torch"][0] == "ok" and r.outcomes["ours"][0] != "ok"]
    assert not worse, "\n".join(worse)


def test_layout_variants_keep_values_and_change_strides(tool: ModuleType) -> None:
    sample = SimpleNamespace(input=torch.randn(2, 3, 4, 5), args=(torch.randn(5),), kwargs={"scale": 2})
    for variant in tool.VARIANTS:
        (args, kwargs), changed = tool.sample_args(sample, variant)
        assert changed and kwargs == {"scale": 2}
        assert torch.equal(args[0], sample.input) and args[0].stride() != sample.input.stride()
    (args, _), changed = tool.sample_args(SimpleNamespace(input=torch.randn(3), args=(), kwargs={}), "channels_last")
    assert not changed, "a sample with no 4-d or 5-d input has no channels-last variant"
    assert tool.split_key("conv2d@sliced") == ("conv2d", "sliced") and tool.split_key("conv2d") == ("conv2d", None)


# The comparison rules themselves, with hand-made "fake" outputs.


def test_compare_accepts_an_equal_output(tool: ModuleType) -> None:
    x, y = torch.zeros(2, 3), torch.ones(2, 3)
    assert tool.compare(x.t(), x, y.t(), y) == ("ok", "")


@pytest.mark.parametrize(
    ("fake", "category"),
    [
        (torch.zeros(3, 3), "shape"),
        (torch.zeros(3, 2, dtype=torch.float64), "dtype"),
        (torch.zeros(3, 2), "stride"),
        (torch.zeros(2, 3).t(), "alias"),
        ((torch.zeros(3, 2),), "structure"),
    ],
)
def test_compare_names_the_first_difference(tool: ModuleType, fake: object, category: str) -> None:
    x = torch.zeros(2, 3)
    got, detail = tool.compare(x.t(), x, fake, torch.zeros(2, 3))
    assert got == category, detail


def test_compare_ignores_strides_of_size_one_dims(tool: ModuleType) -> None:
    eager = torch.zeros(1, 4)
    fake = torch.empty_strided((1, 4), (7, 1))
    assert tool.compare(eager, (), fake, ())[0] == "ok"


def test_compare_accepts_an_unbacked_number_for_a_value(tool: ModuleType) -> None:
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    unbacked = ShapeEnv().create_unbacked_symint()
    assert tool.compare(3, (), unbacked, ())[0] == "ok"
    assert tool.compare(3, (), 4, ())[0] == "value"


def test_a_side_that_leaves_python_dispatch_off_is_caught_and_repaired(tool: ModuleType) -> None:
    before = tool.DispatchState.now()
    guard = torch._C._DisableTorchDispatch()
    guard.__enter__()  # entered and never left, as a leaking mode would
    category, detail = tool.checked(before, ("ok", ""))
    assert category == "leaked-state", detail
    assert tool.DispatchState.now() == before
