"""Error answers become the right exception, whatever their body looks like."""

from __future__ import annotations

import httpx2
import pytest

import fleetyard
from fleetyard.sdk._exceptions import error_from_response

from .fakes import FakeAPI, problem

_REQUEST = httpx2.Request("GET", "http://yard.test/v1/sites/site_1")


def answer(status: int, **kwargs: object) -> httpx2.Response:
    response = httpx2.Response(status, request=_REQUEST, **kwargs)  # type: ignore[arg-type]
    response.read()
    return response


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalid_cursor", fleetyard.BadRequestError),
        (401, "unauthenticated", fleetyard.AuthenticationError),
        (401, "token_expired", fleetyard.TokenExpiredError),
        (403, "scope_insufficient", fleetyard.PermissionDeniedError),
        (404, "not_found", fleetyard.NotFoundError),
        (409, "already_exists", fleetyard.ConflictError),
        (412, "version_stale", fleetyard.PreconditionFailedError),
        # The code is precise enough to pick the class whatever the status.
        (409, "version_stale", fleetyard.PreconditionFailedError),
        (413, "payload_too_large", fleetyard.PayloadTooLargeError),
        (422, "validation_failed", fleetyard.UnprocessableEntityError),
        (422, "idempotency_key_mismatch", fleetyard.IdempotencyKeyMismatchError),
        (429, "rate_limited", fleetyard.RateLimitError),
        (500, "internal_error", fleetyard.InternalServerError),
        (503, "unavailable", fleetyard.InternalServerError),
        (418, "teapot", fleetyard.APIStatusError),
    ],
)
def test_problem_maps_to_class(status: int, code: str, expected: type[Exception]) -> None:
    response = problem(status, code, "details here")
    response.request = _REQUEST

    error = error_from_response(response)

    assert type(error) is expected
    assert error.status == status
    assert error.code == code
    assert error.problem is not None
    assert error.problem.detail == "details here"
    assert error.request_id == "req_problem"
    assert error.response is response
    assert str(error) == f"{status} {code}: details here (request req_problem)"


def test_subclasses_are_caught_by_their_parents() -> None:
    error = error_from_response(problem(422, "idempotency_key_mismatch"))
    assert isinstance(error, fleetyard.UnprocessableEntityError)
    assert isinstance(error, fleetyard.APIStatusError)
    assert isinstance(error, fleetyard.APIError)
    assert isinstance(error, fleetyard.FleetyardError)
    expired = error_from_response(problem(401, "token_expired"))
    assert isinstance(expired, fleetyard.AuthenticationError)


def test_html_502_from_a_proxy() -> None:
    page = (
        "<html><head><title>502 Bad Gateway</title></head><body>"
        "<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
    )
    response = answer(502, text=page, headers={"Content-Type": "text/html", "X-Request-Id": "r1"})

    error = error_from_response(response)

    assert type(error) is fleetyard.InternalServerError
    assert error.status == 502
    assert error.code is None
    assert error.problem is None
    assert error.request_id == "r1"
    assert str(error) == "502 Bad Gateway (request r1)"


def test_plain_text_body_is_summarised() -> None:
    error = error_from_response(answer(503, text="upstream connect error " + "x" * 500))
    assert type(error) is fleetyard.InternalServerError
    assert error.message.startswith("503 Service Unavailable: upstream connect error")
    assert len(error.message) < 260


def test_json_that_is_not_a_problem() -> None:
    error = error_from_response(answer(404, json={"detail": "Not Found"}))
    assert type(error) is fleetyard.NotFoundError
    assert error.problem is None
    assert error.code is None
    assert str(error) == "404 Not Found"


def test_json_with_a_code_but_not_a_full_problem() -> None:
    error = error_from_response(answer(401, json={"code": "token_expired", "detail": "old"}))
    assert type(error) is fleetyard.TokenExpiredError
    assert error.problem is None
    assert str(error) == "401 token_expired: old"


@pytest.mark.parametrize("body", [b"", b"[1, 2]", b"\xff\xfe not utf-8", b"{not json"])
def test_odd_bodies_still_map_by_status(body: bytes) -> None:
    error = error_from_response(answer(500, content=body))
    assert type(error) is fleetyard.InternalServerError
    assert error.status == 500


def test_request_id_from_problem_when_header_missing() -> None:
    error = error_from_response(problem(404, "not_found"))
    assert error.request_id == "req_problem"


def test_problem_extra_fields_are_kept() -> None:
    error = error_from_response(problem(412, "version_stale", current_version=7))
    assert error.problem is not None
    assert error.problem.model_extra == {"current_version": 7}


def test_field_errors_are_parsed() -> None:
    response = problem(
        422,
        "validation_failed",
        errors=[{"loc": ["body", "name"], "message": "too short", "type": "string_too_short"}],
    )
    error = error_from_response(response)
    assert error.problem is not None
    assert error.problem.errors is not None
    assert error.problem.errors[0].loc == ["body", "name"]


def test_rate_limit_error_exposes_retry_after() -> None:
    response = problem(429, "rate_limited")
    response.headers["Retry-After"] = "12"
    error = error_from_response(response)
    assert isinstance(error, fleetyard.RateLimitError)
    assert error.retry_after == 12.0


def test_client_raises_mapped_error_with_response(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(problem(404, "not_found", "site site_9 does not exist"))
    with pytest.raises(fleetyard.NotFoundError) as caught:
        client.sites.get("site_9")
    assert caught.value.response.request.url.path == "/v1/sites/site_9"
    assert "site site_9 does not exist" in str(caught.value)


def test_connection_errors_carry_no_status(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(*[httpx2.ConnectError("refused")] * 3)
    with pytest.raises(fleetyard.APIConnectionError) as caught:
        client.system.info()
    assert not isinstance(caught.value, fleetyard.APITimeoutError)
    assert caught.value.status is None
    assert caught.value.code is None
    assert caught.value.problem is None
    assert isinstance(caught.value.__cause__, httpx2.ConnectError)


def test_timeouts_become_api_timeout_error(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(*[httpx2.ReadTimeout("slow")] * 3)
    with pytest.raises(fleetyard.APITimeoutError):
        client.system.info()


def test_a_2xx_with_the_wrong_shape(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(httpx2.Response(200, json={"unexpected": True}, headers={"X-Request-Id": "r2"}))
    with pytest.raises(fleetyard.APIResponseValidationError) as caught:
        client.sites.get("site_1")
    assert caught.value.status == 200
    assert caught.value.request_id == "r2"
