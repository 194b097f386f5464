"""Crafted model files: each refused with one line, and a fuzzer of mutated configs.

The files are built from small valid models by `benchmarks/hostile_model_files.py` (which
also measures their refusal time and memory); checksums are recomputed wherever a case is
about what lies behind them, as anyone who read genlab's source can.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import genlab
from benchmarks.hostile_model_files import (
    EVIL_PICKLE,
    Bases,
    bomb_entry,
    edited,
    entry,
    make_bases,
    members,
    patched,
    raw,
    raw_config,
    resigned,
    write_zip,
    zipped,
)
from genlab.errors import GenlabError, ModelFileError, ParameterError
from genlab.store import DEFAULT_MAX_MEMORY, parse_memory

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")


# -- the crafted files ----------------------------------------------------------------------
def _c(m: dict[str, bytes]) -> bytes:
    return m["config.json"]


def _w(m: dict[str, bytes]) -> bytes:
    return m["weights.safetensors"]


def _two(m: dict[str, bytes], **over: Any) -> list[dict[str, Any]]:
    return [entry("config.json", _c(m)), entry("weights.safetensors", _w(m), **over)]


def _flip_data(name: str, offset: int, value: int) -> Callable[[bytearray, Any], None]:
    def patch(data: bytearray, zf: zipfile.ZipFile) -> None:
        info = zf.getinfo(name)
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        data[start + offset] = value if value >= 0 else data[start + offset] ^ 0xFF
    return patch


def _truncate(keep: float) -> Callable[[bytearray, Any], None]:
    def patch(data: bytearray, zf: zipfile.ZipFile) -> None:
        del data[int(len(data) * keep):]
    return patch


def _deep(depth: int) -> Callable[[dict[str, Any]], bytes]:
    def text(config: dict[str, Any]) -> bytes:
        config["params"]["deep"] = "@"
        return json.dumps(config).replace('"@"', "[" * depth + "]" * depth).encode()
    return text


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted path in the config (`codec.height`); `value` DROP removes the key."""
    def edit(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DROP:
            del node[last]
        else:
            node[last] = value
    return edit


DROP = object()
_TYPE_CASES = [  # (path, wrong value, phrase) for every key Model.save writes
    ("format_version", "1", "format_version must be an integer"),
    ("format_version", True, "format_version must be an integer"),
    ("format_version", 1.0, "format_version must be an integer"),
    ("format_version", 0, "format version 0"), ("format_version", 99, "upgrade genlab"),
    ("genlab_version", 5, "genlab_version must be a string"),
    ("genlab_version", "x" * 500, "genlab_version must be a string of at most 64"),
    ("modality", ["table"], "modality must be a string"), ("modality", "video", "unknown kind"),
    ("family", ["gaussian"], "family must be a string"), ("family", {"a": 1}, "family must be"),
    ("family", "alien", "unknown family 'alien'"), ("family", "pixelcnn", "unknown family"),
    ("params", [], "params must be a JSON object"), ("params", "x", "params must be"),
    ("params.colour", "red", "colour"), ("params.shrinkage", "x", "shrinkage"),
    ("params.shrinkage", -1.0, "shrinkage must be in"),
    ("codec", [], "codec must be a JSON object"), ("codec", 3, "codec must be"),
    ("codec.columns", "x", "invalid config"), ("codec.columns", [5], "invalid config"),
    ("codec.columns.0.kind", "fancy", "unknown kind 'fancy'"),
    ("conditions", 5, "conditions must be a list"), ("conditions", ["a", 3], "conditions must"),
    ("conditions", "g", "conditions must be a list"),
    ("fitted", [], "fitted must be a JSON object"), ("fitted", 0, "fitted must be"),
    ("history", 7, "history must be a list"), ("history", ["x"], r"history\[0\] must be"),
    ("history", [{"loss": "a"}], r"history\[0\] must be a mapping"),
    ("history", {"epoch": 1}, "history must be a list"),
    ("training", [], "training must be a JSON object"),
    ("training.rows", "60", "training.rows must be an integer"),
    ("training.rows", -1, "training.rows must be an integer in"),
    ("training.rows", True, "training.rows must be"),
    ("training.fingerprint", 5, "training.fingerprint must be a string"),
    ("training.stopped_by", 3, "training.stopped_by must be"),
    ("training.extra", 1, "training has unknown key"),
    ("provenance", "x", "provenance must be a JSON object"),
    ("provenance.fit_seconds", "3.2", "provenance.fit_seconds must be a number"),
    ("provenance.fit_seconds", -1, "provenance.fit_seconds must be a number of at least 0"),
    ("provenance.seed", "0", "provenance.seed must be an integer"),
    ("provenance.seed", -5, "provenance.seed must be"),
    ("provenance.owner", 7, "provenance.owner must be a string"),
    ("provenance.licence", [], "provenance.licence must be"),
    ("provenance.created_at", 0, "provenance.created_at must be a string"),
    ("surprise", 1, r"unknown key\(s\) \['surprise'\]"),
    ("family", DROP, r"without required keys \['family'\]"),
    ("params", DROP, r"without required keys \['params'\]"),
    ("codec", DROP, r"without required keys \['codec'\]"),
]
_TYPES = [(f"type-{p}-{type(v).__name__ if v is not DROP else 'dropped'}-{k}",
           edited("table", _set(p, v)), phrase, {})
          for k, (p, v, phrase) in enumerate(_TYPE_CASES)]
CORRUPT, BUDGET = "corrupt model file", "over the memory budget"
_sizes = [
    ("image-20000x20000", edited("image", lambda c: (
        c["codec"].update(height=20000, width=20000), c["fitted"].update(h=20000, w=20000))),
     "image size 20000 x 20000", {}),
    ("pixelcnn-20000x20000", edited("pixelcnn", _set("codec.height", 20000)), "image size", {}),
    ("image-4096-over-user-budget", edited("pixelcnn", lambda c: c["codec"].update(
        height=4096, width=4096, channels=4)), BUDGET, {"max_memory": 100 * 2**20}),
    ("image-height-text", edited("image", _set("codec.height", "8")), "image size", {}),
    ("image-channels-0", edited("image", _set("codec.channels", 0)), "image size", {}),
    ("image-meta-mismatch", edited("image", lambda c: c["codec"].update(height=16, width=16)),
     "saved for h=8", {}),
    ("image-classes-int", edited("image", _set("codec.classes", 5)), "classes must be", {}),
    ("image-conditional-text", edited("image", _set("codec.conditional", "yes")),
     "conditional must be", {}),
    ("image-classes-without-network", edited("image", lambda c: c["codec"].update(
        classes=["a", "b"], conditional=True)), "saved for 0 classes", {}),
    ("text-huge-vocabulary", edited("text", _set("codec.tokens", [f"t{i}" for i in
                                                                  range(200_000)])),
     "vocabulary of 200,003 tokens", {}),
    ("music-huge-duration", edited("text", _set("codec", {"kind": "music", "steps_per_bar": 16,
                                                          "max_duration": 10**9})),
     "max_duration", {}),
    ("music-vocabulary-over-weights", edited("text", _set("codec", {
        "kind": "music", "steps_per_bar": 1024, "max_duration": 4096})), "more weights", {}),
    ("text-tokens-not-strings", edited("text", _set("codec.tokens", [5])), "tokens must", {}),
    ("text-tokens-repeat", edited("text", _set("codec.tokens", ["a", "a"])), "not repeat", {}),
    ("text-unknown-codec-kind", edited("text", _set("codec.kind", "dna")), "unknown sequence", {}),
    ("series-huge-period", edited("series", _set("codec.periods", [10**9])), "periods must", {}),
    ("series-periods-text", edited("series", _set("codec.periods", "24")), "periods must", {}),
    ("series-scale-zero", edited("series", _set("codec.scale", 0)), "scale must be positive", {}),
    ("series-center-text", edited("series", _set("codec.center", "x")), "center must be", {}),
    ("series-time-int", edited("series", _set("codec.time", 5)), "time must be a name", {}),
    ("series-lags-over-window", edited("series", _set("params.lags", 40)), "tensor 'tail'", {}),
]
_tensors = [
    ("nan-tensor", edited("table", tensors=lambda t: t.update(means=t["means"] * np.nan)),
     "NaN or infinite", {}),
    ("inf-tensor", edited("table", tensors=lambda t: t.update(covs=t["covs"] + np.inf)),
     "NaN or infinite", {}),
    ("wrong-shape", edited("table", tensors=lambda t: t.update(means=np.zeros((1, 5)))),
     r"'means' has shape \(1, 5\)", {}),
    ("missing-tensor", edited("table", tensors=lambda t: t.pop("covs")), "holds tensors", {}),
    ("extra-tensor", edited("table", tensors=lambda t: t.update(x=np.zeros(3))), "holds tens", {}),
    ("nan-network-weight", edited("image", tensors=lambda t: next(
        v for v in t.values() if v.dtype.kind == "f").fill(np.nan)), "NaN or infinite", {}),
    ("network-wrong-shape", edited("image", tensors=lambda t: t.update(
        {next(iter(t)): np.zeros((3, 3, 3), np.float32)})), "has shape", {}),
    ("pickle-weights-resigned", edited("table", lambda c: None), "unreadable weights", {}),
]
_tensors[-1] = ("pickle-weights-resigned", raw(lambda m: [
    entry("config.json", resigned(json.loads(_c(m)), EVIL_PICKLE)),
    entry("weights.safetensors", EVIL_PICKLE)]), "unreadable weights", {})
_zip = [
    ("duplicate-config-member", zipped(lambda m: [
        ("config.json", _c(m)), ("config.json", b"{}"), ("weights.safetensors", _w(m))]),
     "more than once", {}),
    ("duplicate-weights-member", zipped(lambda m: [("config.json", _c(m)),
                                                   ("weights.safetensors", _w(m)),
                                                   ("weights.safetensors", EVIL_PICKLE)]),
     "more than once", {}),
    ("extra-pickle-member", zipped(lambda m: [*m.items(), ("data.pkl", EVIL_PICKLE)]),
     r"\['data\.pkl'\]", {}),
    ("extra-empty-member", zipped(lambda m: [*m.items(), ("README", b"")]), "README", {}),
    ("missing-config", zipped(lambda m: [("weights.safetensors", _w(m))]), "missing", {}),
    ("missing-weights", zipped(lambda m: [("config.json", _c(m))]), "missing", {}),
    ("renamed-member", zipped(lambda m: [("CONFIG.JSON", _c(m)), ("weights.safetensors", _w(m))]),
     "CONFIG.JSON", {}),
    ("path-traversal-member", zipped(lambda m: [("../config.json", _c(m)),
                                                ("weights.safetensors", _w(m))]), "unexpected", {}),
    ("many-members", zipped(lambda m: [*m.items(), *((f"f{i}", b"") for i in range(2000))]),
     "lists 2002 members", {}),
    ("encrypted-config", raw(lambda m: [entry("config.json", _c(m), flags=1),
                                        entry("weights.safetensors", _w(m))]), "encrypted", {}),
    ("encrypted-weights", raw(lambda m: _two(m, flags=1)), "encrypted", {}),
    ("bzip2-member", zipped(lambda m: list(m.items()), compression=zipfile.ZIP_BZIP2),
     "compression method 12", {}),
    ("lzma-member", zipped(lambda m: list(m.items()), compression=zipfile.ZIP_LZMA),
     "compression method 14", {}),
    ("unknown-method-99", raw(lambda m: _two(m, method=99)), "compression method 99", {}),
    ("corrupt-deflate", patched(_flip_data("weights.safetensors", 0, 0x07)), CORRUPT, {}),
    ("bad-crc", raw(lambda m: _two(m, crc=12345)), CORRUPT, {}),
    ("truncated-half", patched(_truncate(0.5)), "not a zip archive", {}),
    ("truncated-directory", patched(_truncate(0.97)), "not a zip archive", {}),
    ("zip-bomb-weights", raw(lambda m: [entry("config.json", _c(m)), bomb_entry()]), BUDGET, {}),
    ("lying-directory-size", raw(lambda m: [entry("config.json", _c(m)),
                                            bomb_entry(declared=len(_w(m)))]), CORRUPT, {}),
    ("lying-directory-small-budget", raw(lambda m: [entry("config.json", _c(m)), bomb_entry(
        0.25, declared=2**20 - 1)]), CORRUPT, {"max_memory": 2**20}),
    ("config-bomb", raw(lambda m: [entry("config.json", b" " * (65 * 2**20) + _c(m)),
                                   entry("weights.safetensors", _w(m))]), BUDGET, {}),
    ("weights-over-user-budget", raw(lambda m: [entry("config.json", _c(m)), entry(
        "weights.safetensors", bytes(3 * 2**20))]), BUDGET, {"max_memory": 2**20}),
]
_json = [
    ("config-not-utf8", raw_config("table", lambda c: b"\x80\xff"), "unreadable config", {}),
    ("config-not-json", raw_config("table", lambda c: b"{not json"), "unreadable config", {}),
    ("config-is-a-list", raw_config("table", lambda c: b"[1, 2]"), "must be a JSON object", {}),
    ("deep-json-100000", raw_config("table", _deep(100_000)), "nested too deeply", {}),
    ("deep-json-40", raw_config("table", _deep(40)), "nested more than 32", {}),
    ("duplicate-top-key", raw_config("table", lambda c: json.dumps(c)[:-1].encode()
                                     + b', "family": "mixture"}'), "'family' more than once", {}),
    ("duplicate-nested-key", raw_config("table", lambda c: json.dumps(c).replace(
        '"shrinkage": 10.0', '"shrinkage": 10.0, "shrinkage": 0.1').encode()), "'shrinkage'", {}),
    ("nan-in-config", raw_config("table", lambda c: json.dumps(c).replace(
        "10.0", "NaN").encode()), "holds NaN", {}),
    ("infinity-in-config", raw_config("table", lambda c: json.dumps(c).replace(
        "10.0", "-Infinity").encode()), "holds -Infinity", {}),
    ("huge-float", raw_config("table", lambda c: json.dumps(c).replace(
        "10.0", "1e999").encode()), "a finite number", {}),
    ("huge-int-5000-digits", raw_config("table", lambda c: json.dumps(c).replace(
        "10.0", "9" * 5000).encode()), "unreadable config", {}),
    ("int-over-64-bits", edited("table", _set("params.shrinkage", 10**30)), "64 bits", {}),
    ("too-many-values", edited("table", _set("params.junk", [0] * 2_100_000)), "values", {}),
    ("long-string", edited("table", _set("provenance.owner", "x" * (2**20 + 1))), "at most", {}),
    ("integrity-not-a-mapping", edited("table", lambda c: None, resign=False) , "", {}),
    ("config-checksum-mismatch", edited("table", _set("params.shrinkage", 0.5), resign=False),
     "changed after saving", {}),
    ("weights-checksum-mismatch", edited("table", tensors=lambda t: t.update(
        means=t["means"] + 1), resign=False), "weights that were changed", {}),
]
_json[-3] = ("integrity-not-a-mapping", raw_config("table", lambda c: json.dumps(
    {**c, "integrity": "trust me"}).encode()), "checksum mismatch", {})
CASES = _zip + _json + _TYPES + _sizes + _tensors


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> Bases:
    return make_bases(tmp_path_factory.mktemp("bases"))


def test_bases_load(bases: Bases) -> None:
    for path in bases.values():
        assert genlab.load(path).n_rows_ > 0


@pytest.mark.parametrize(("build", "phrase", "options"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_crafted_file_is_refused_in_one_line(bases: Bases, tmp_path: Path, build: Any,
                                             phrase: str, options: dict[str, Any]) -> None:
    path = build(bases, tmp_path / "crafted.genlab")
    with pytest.raises(ModelFileError) as err:
        genlab.load(path, **options)
    text = str(err.value)
    assert "\n" not in text and re.search(phrase, text), text
    assert "tamper" not in text and not Path("/tmp/genlab-pwned").exists()


def test_enough_named_crafted_files() -> None:
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("path", ["", "no-such-file", "dir"], ids=["empty", "missing", "dir"])
def test_not_a_model_file(tmp_path: Path, path: str) -> None:
    target = tmp_path / (path or "empty.genlab")
    target.mkdir() if path == "dir" else target.write_bytes(b"") if not path else None
    with pytest.raises(ModelFileError) as err:
        genlab.load(target)
    assert "\n" not in str(err.value)


def test_cuda_saved_model_loads_on_cpu(bases: Bases, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = edited("image", lambda c: c["params"].update(device="cuda"))(bases, tmp_path / "g")
    with pytest.warns(UserWarning, match="saved with device='cuda'.*loaded on the CPU") as rec:
        model = genlab.load(path)
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert model.device_.type == "cpu" and model.sample(2, seed=0).shape == (2, 8, 8, 1)


@pytest.mark.parametrize(("text", "value"), [("2GiB", 2 * 2**30), ("512MB", 512 * 10**6),
                                             ("1.5G", 3 * 2**29), (2**21, 2**21)],
                         ids=["gib", "mb", "fraction", "int"])
def test_parse_memory(text: Any, value: int) -> None:
    assert parse_memory(text) == value


@pytest.mark.parametrize("text", ["lots", "-1GB", "12 parsecs", 10, True],
                         ids=["word", "negative", "unit", "too-small", "bool"])
def test_bad_max_memory_is_one_line(bases: Bases, text: Any) -> None:
    with pytest.raises(ParameterError) as err:
        genlab.load(bases["table"], max_memory=text)
    assert "\n" not in str(err.value)


def test_raised_budget_loads_what_the_default_refuses(bases: Bases, tmp_path: Path) -> None:
    path = edited("pixelcnn", lambda c: c["codec"].update(height=4096, width=4096))(
        bases, tmp_path / "big.genlab")
    assert genlab.load(path, max_memory="4GiB").codec_.height == 4096
    with pytest.raises(ModelFileError, match="over the memory budget"):
        genlab.load(path, max_memory="32MiB")
    assert DEFAULT_MAX_MEMORY == 2**30


# -- fuzzing: mutated configs with recomputed checksums ---------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)
SWAPS: list[Callable[[Any], Any]] = [str, lambda v: [v], lambda v: {"v": v}, lambda v: None,
                                     lambda v: -1, lambda v: 10**9, lambda v: 0.5, bool]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
        node, list) else []
    for key, value in list(items)[:40]:
        out += _paths(value, (*prefix, key))
    return out


def mutate(config: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """Up to four mutations: a value replaced by random JSON or a swapped type, a key
    dropped or added."""
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(_paths(config)))
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["json", "swap", "drop", "add"]))
        if action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=8))] = data.draw(JSON)
        elif action == "swap":
            parent[path[-1]] = data.draw(st.sampled_from(SWAPS))(parent[path[-1]])
        else:
            parent[path[-1]] = data.draw(JSON)
    return config


def fuzz_once(base: Path, out: Path, data: st.DataObject) -> str:
    """Load one mutated copy of `base`: "loaded" or "refused"; anything else raises."""
    m = members(base)
    config = mutate(json.loads(m["config.json"]), data)
    config.pop("integrity", None)
    write_zip(out, [("config.json", resigned(config, m["weights.safetensors"])),
                    ("weights.safetensors", m["weights.safetensors"])])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            genlab.load(out)
    except GenlabError as err:
        assert "\n" not in str(err), str(err)
        return "refused"
    return "loaded"


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_configs_load_or_give_one_line_model_file_errors(bases: Bases, tmp_path: Path,
                                                                data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(bases)))
    assert fuzz_once(bases[name], tmp_path / "fuzz.genlab", data) in ("loaded", "refused")
