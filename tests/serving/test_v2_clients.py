"""The Open Inference Protocol V2 with Triton's and KServe's own client (issue 18).

Before: ``tritonclient.http`` got metadata, but every ``infer`` failed: it sends JSON
without a ``Content-Type`` (422), asks for binary outputs and sends binary inputs (422),
and crashed formatting our error body (``TypeError``). Here the real client, against a
real uvicorn server, predicts in JSON and binary, one row and many, text and numbers,
and reports every refusal as a readable ``InferenceServerException``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from tritonclient.utils import InferenceServerException

import modelcycle as mc
from modelcycle.packaging import PROBABILITY_TOLERANCE
from tests.serving.conftest import make_app, running

AGES = np.array([60, 20, 70, 35], dtype=np.int64)
PLANS = np.array([b"a", b"b", b"c", b"a"], dtype=object)


def plans_frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"age": rng.integers(18, 80, n), "plan": rng.choice(["a", "b", "c"], n)})


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mc.Workspace]:
    """'plans' (text labels from a number and a text) and 'size' (a regressor on floats)."""
    ws = mc.Workspace(tmp_path_factory.mktemp("v2") / "ws")
    frame = plans_frame()
    label = np.where((frame.age > 50) ^ (frame.plan == "a"), "leave", "stay")
    encode = make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough")
    with ws.start_run(experiment="v2") as run:
        model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(frame, label)
        run.log_model(model, signature=frame.head(20))
    ws.registry.register(run, name="plans")
    sizes = pd.DataFrame({"width": [1.0, 2.0, 3.0, 4.0], "height": [2.0, 1.0, 4.0, 3.0]})
    with ws.start_run(experiment="v2") as run:
        run.log_model(LinearRegression().fit(sizes, sizes.width * sizes.height), signature=sizes)
    ws.registry.register(run, name="size")
    for name in ("plans", "size"):
        ws.registry.promote(name, 1, force=True)
    ws.security.create_user("client", actor="test")
    ws.security.grant("client", "predictor", actor="test")
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def key(models: mc.Workspace) -> str:
    return models.security.create_key("client", "predictor", actor="test")[0]


@pytest.fixture(scope="module")
def base(models: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = make_app(models, tmp_path_factory.mktemp("log"), secure=True, models=("plans", "size"))
    with running(app) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[triton.InferenceServerClient]:
    found = triton.InferenceServerClient(base.removeprefix("http://"))
    yield found
    found.close()


@pytest.fixture
def auth(key: str) -> dict[str, str]:
    """The header of a predictor key (pass a copy: tritonclient adds its own headers to it)."""
    return {"Authorization": f"Bearer {key}"}


def tensors(ages: np.ndarray, plans: np.ndarray, *, binary: bool) -> list[triton.InferInput]:
    age = triton.InferInput("age", list(ages.shape), "INT64")
    age.set_data_from_numpy(ages, binary_data=binary)
    plan = triton.InferInput("plan", list(plans.shape), "BYTES")
    plan.set_data_from_numpy(plans, binary_data=binary)
    return [age, plan]


def expected(ws: mc.Workspace, ages: np.ndarray, plans: np.ndarray) -> tuple[list[str], object]:
    frame = pd.DataFrame({"age": ages, "plan": [p.decode() for p in plans]})
    model = ws.registry.load("plans")
    return list(model.predict(frame)), model.predict_proba(frame)


def test_probes_and_metadata(client: triton.InferenceServerClient, auth: dict[str, str]) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("plans", headers=dict(auth))
    assert client.is_model_ready("plans", "1", headers=dict(auth))
    assert not client.is_model_ready("plans", "9", headers=dict(auth))
    server = client.get_server_metadata(headers=dict(auth))
    assert server["name"] == "modelcycle" and "binary_tensor_data" in server["extensions"]
    meta = client.get_model_metadata("plans", headers=dict(auth))
    assert meta == client.get_model_metadata("plans", "1", headers=dict(auth))
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("age", "INT64"),
        ("plan", "BYTES"),
    ]
    assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [
        ("predict", "BYTES"),
        ("predict_proba", "FP64"),
    ]


@pytest.mark.parametrize("rows", [1, 4])
@pytest.mark.parametrize("binary", [True, False])
def test_infer_text_and_numbers(
    client: triton.InferenceServerClient,
    auth: dict[str, str],
    models: mc.Workspace,
    rows: int,
    binary: bool,
) -> None:
    ages, plans = AGES[:rows], PLANS[:rows]
    labels, proba = expected(models, ages, plans)
    result = client.infer("plans", tensors(ages, plans, binary=binary), headers=dict(auth))
    assert [v.decode() for v in result.as_numpy("predict")] == labels  # binary by default
    # served by the compiled graph: within its agreement bound of the original
    np.testing.assert_allclose(result.as_numpy("predict_proba"), proba, atol=PROBABILITY_TOLERANCE)
    assert result.get_response()["model_version"] == "1"


def test_requested_outputs_each_in_its_own_form(
    client: triton.InferenceServerClient, auth: dict[str, str], models: mc.Workspace
) -> None:
    labels, proba = expected(models, AGES, PLANS)
    outputs = [
        triton.InferRequestedOutput("predict_proba", binary_data=True),
        triton.InferRequestedOutput("predict", binary_data=False),
    ]
    result = client.infer(
        "plans", tensors(AGES, PLANS, binary=True), outputs=outputs, headers=dict(auth)
    )
    listed = result.get_response()["outputs"]
    assert [o["name"] for o in listed] == ["predict_proba", "predict"]
    assert listed[1]["data"] == labels and "data" not in listed[0]
    # served by the compiled graph: within its agreement bound of the original
    np.testing.assert_allclose(result.as_numpy("predict_proba"), proba, atol=PROBABILITY_TOLERANCE)
    only = client.infer(
        "plans",
        tensors(AGES, PLANS, binary=False),
        outputs=[triton.InferRequestedOutput("predict", binary_data=False)],
        model_version="1",
        headers=dict(auth),
    )
    assert [o["name"] for o in only.get_response()["outputs"]] == ["predict"]


@pytest.mark.parametrize(("datatype", "dtype"), [("FP32", np.float32), ("FP64", np.float64)])
def test_numeric_tensors_of_other_widths(
    client: triton.InferenceServerClient, auth: dict[str, str], datatype: str, dtype: type
) -> None:
    inputs = []
    for name, values in (("width", [2.0, 3.0]), ("height", [5.0, 1.5])):
        tensor = triton.InferInput(name, [2], datatype)
        tensor.set_data_from_numpy(np.array(values, dtype=dtype))
        inputs.append(tensor)
    predicted = client.infer("size", inputs, headers=dict(auth)).as_numpy("predict")
    assert predicted.dtype == np.float64 and predicted.shape == (2,)


def test_one_matrix_of_all_inputs(
    client: triton.InferenceServerClient, auth: dict[str, str]
) -> None:
    matrix = triton.InferInput("input-0", [2, 2], "FP64")
    matrix.set_data_from_numpy(np.array([[2.0, 5.0], [3.0, 1.5]]))
    assert client.infer("size", [matrix], headers=dict(auth)).as_numpy("predict").shape == (2,)


@pytest.mark.parametrize(
    ("plans", "model", "version", "expected"),
    [
        (np.array([b"z"], dtype=object), "plans", "", "row 0, field 'plan': got 'z'"),
        (np.array([b"a"], dtype=object), "ghost", "", "no served model is named 'ghost'"),
        (np.array([b"a"], dtype=object), "plans", "7", "'plans' version '7' is not served"),
    ],
)
def test_refusals_reach_the_user_readably(
    client: triton.InferenceServerClient,
    auth: dict[str, str],
    plans: np.ndarray,
    model: str,
    version: str,
    expected: str,
) -> None:
    with pytest.raises(InferenceServerException) as raised:
        client.infer(
            model, tensors(AGES[:1], plans, binary=True), model_version=version, headers=auth
        )
    assert expected in str(raised.value) and expected in raised.value.message()
    assert raised.value.status() in ("404", "422")


def test_an_unknown_output_and_a_missing_key_are_readable(
    client: triton.InferenceServerClient, auth: dict[str, str]
) -> None:
    with pytest.raises(InferenceServerException, match="'proba' is not an output"):
        client.infer(
            "plans",
            tensors(AGES, PLANS, binary=True),
            outputs=[triton.InferRequestedOutput("proba")],
            headers=dict(auth),
        )
    with pytest.raises(InferenceServerException, match="needs an API key") as raised:
        client.infer("plans", tensors(AGES, PLANS, binary=True))
    assert raised.value.status() == "401"


# -- the binary extension and the body's type, byte by byte ---------------------------


def framed(*texts: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(t)) + t for t in texts)


def binary_request(
    tensors: list[dict[str, object]], tail: bytes
) -> tuple[bytes, dict[str, str | bytes]]:
    header = json.dumps({"inputs": tensors}).encode()
    return header + tail, {"Inference-Header-Content-Length": str(len(header))}


AGE = {"name": "age", "shape": [1], "datatype": "INT64", "data": [60]}
AGES2 = {**AGE, "shape": [2], "data": [60, 20]}


def plan_bytes(size: int, shape: list[int] | None = None) -> dict[str, object]:
    return {
        "name": "plan",
        "shape": shape or [1],
        "datatype": "BYTES",
        "parameters": {"binary_data_size": size},
    }


@pytest.mark.parametrize(
    ("tensors", "tail", "header", "expected"),
    [
        ([AGE, plan_bytes(5)], framed(b"a"), None, "plan"),  # declared 5, 5 sent: fine
        ([AGE, plan_bytes(9)], framed(b"a"), None, "only 5 are left"),
        ([AGE, plan_bytes(5)], framed(b"a") + b"x", None, "1 bytes after the JSON"),
        ([AGE, plan_bytes(4)], struct.pack("<I", 2**32 - 1), None, "past the end"),
        ([AGE, plan_bytes(3)], b"\x01\x00\x00", None, "4-byte length is missing"),
        ([AGE, plan_bytes(7)], framed(b"\xed\xa0\x80"), None, "not UTF-8"),  # a surrogate
        ([AGE, plan_bytes(7)], framed(b"\xff\xfeab"[:3]), None, "not UTF-8"),
        ([AGES2, plan_bytes(10, [2])], framed(b"a") + framed(b"b"), None, "plan"),
        ([AGE, plan_bytes(5, [2**31] * 8)], framed(b"a"), None, "4-byte length is missing"),
        ([AGE, plan_bytes(True)], framed(b"a"), None, "binary_data_size True"),
        ([AGE, plan_bytes("5")], framed(b"a"), None, "binary_data_size '5'"),
        ([AGE, plan_bytes(-1)], framed(b"a"), None, "binary_data_size -1"),
        ([AGE, {**plan_bytes(5), "data": ["a"]}], framed(b"a"), None, "both 'data'"),
        ([AGE, {**plan_bytes(5), "data": None}], framed(b"a"), None, "plan"),
        ([AGE, {"name": "plan", "shape": [1], "datatype": "BYTES"}], b"", None, "no values"),
        ([AGE, plan_bytes(5)], framed(b"a"), "-1", "Inference-Header-Content-Length"),
        ([AGE, plan_bytes(5)], framed(b"a"), "\u0663".encode(), "Inference-Header-Content-Length"),
        ([AGE, plan_bytes(5)], framed(b"a"), "9" * 30, "at most the body's"),
        ([AGE, plan_bytes(5)], framed(b"a"), "1e2", "Inference-Header-Content-Length"),
        ([AGE, AGE, plan_bytes(5)], framed(b"a"), None, "'age' is sent twice"),
        ([{**AGE, "parameters": {"shared_memory_region": "r"}}], b"", None, "shared-memory"),
    ],
)
def test_binary_inputs_are_checked_byte_by_byte(
    base: str,
    auth: dict[str, str],
    tensors: list[dict[str, object]],
    tail: bytes,
    header: str | bytes | None,
    expected: str,
) -> None:
    body, headers = binary_request(tensors, tail)
    if header is not None:
        headers["Inference-Header-Content-Length"] = header
    answer = httpx.post(f"{base}/v2/models/plans/infer", content=body, headers={**auth, **headers})
    if expected == "plan":
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 422, answer.text
    assert set(answer.json()) == {"error"} and expected in answer.json()["error"]


@pytest.mark.parametrize(
    ("datatype", "raw", "expected", "message"),
    [
        ("INT32", struct.pack("<i", 60), 200, ""),
        ("INT8", struct.pack("<b", 60), 200, ""),
        ("UINT64", struct.pack("<Q", 60), 200, ""),
        ("FP16", np.array([60], dtype="<f2").tobytes(), 200, ""),
        ("INT64", struct.pack("<i", 60), 422, "needs 8 bytes"),  # 4 where 8 are needed
        ("BOOL", b"\x02", 422, "holds the byte 2"),
    ],
)
def test_binary_numbers_little_endian(
    base: str, auth: dict[str, str], datatype: str, raw: bytes, expected: int, message: str
) -> None:
    age = {"name": "age", "shape": [1], "datatype": datatype}
    age["parameters"] = {"binary_data_size": len(raw)}
    plan = {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["a"]}
    body, headers = binary_request([age, plan], raw)
    answer = httpx.post(f"{base}/v2/models/plans/infer", content=body, headers={**auth, **headers})
    assert answer.status_code == expected, answer.text
    assert message in answer.text


@pytest.mark.parametrize(
    ("content_type", "encoding", "status"),
    [
        (None, None, 200),
        ("application/json", None, 200),
        ("Application/JSON; charset=utf-8", None, 200),
        ("application/vnd.kserve+json", None, 200),
        ("text/json", None, 200),
        ("application/octet-stream", None, 200),
        ("application/x-www-form-urlencoded", None, 415),
        ("multipart/form-data; boundary=x", None, 415),
        ("text/csv", None, 415),
        ("application/json", "gzip", 415),
    ],
)
def test_json_with_or_without_any_json_content_type(
    base: str, auth: dict[str, str], content_type: str | None, encoding: str | None, status: int
) -> None:
    headers = dict(auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    plan = {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["a"]}
    body = json.dumps({"inputs": [AGE, plan]}).encode()
    answer = httpx.post(f"{base}/v2/models/plans/infer", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    if status == 415:
        assert "expected" in answer.json()["error"]


def test_a_probe_with_any_content_type_is_answered(base: str) -> None:
    for content_type in ("text/csv", "multipart/form-data", "\u00ff"):
        headers = {"Content-Type": content_type.encode("latin-1")}
        assert httpx.get(f"{base}/v2/health/ready", headers=headers).status_code == 200


def test_errors_have_the_protocol_shape_on_every_v2_route(
    base: str, auth: dict[str, str], tmp_path: Path
) -> None:
    paths = [
        ("GET", "/v2/models/ghost"),
        ("GET", "/v2/models/plans/versions/x"),
        ("GET", "/v2/models/plans/versions/1/nothing"),
        ("POST", "/v2/models/plans/infer"),
        ("DELETE", "/v2/models/plans/infer"),
        ("GET", "/v2/models/ghost/ready"),
    ]
    for method, path in paths:
        answer = httpx.request(method, f"{base}{path}", headers=dict(auth))
        assert answer.status_code >= 400 and set(answer.json()) == {"error"}, (path, answer.text)
        assert isinstance(answer.json()["error"], str) and answer.json()["error"]
    refused = httpx.get(f"{base}/v2/models/plans")
    assert refused.status_code == 401 and "API key" in refused.json()["error"]
    assert httpx.get(f"{base}/v1/models/ghost/nothing", headers=dict(auth)).json()["error"]["code"]
