"""prompt_review.github driving the real PyGithub client over HTTP against the fake GitHub."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from prompt_review.errors import InfrastructureError
from prompt_review.github import GitHub, GitHubError, GitHubPermissionError
from tests.fakes.github_server import (
    BOT_LOGIN,
    FAKE_TOKEN,
    FakeGitHub,
    LoggedRequest,
    changed_file,
)

REPO = "acme/prompts"
HEAD = "1" * 40
MERGE = "2" * 40
MARKER = "<!-- prompt-review:comment -->"
COMMENTS = r"/repos/acme/prompts/issues/12/comments"


def body(text: str) -> str:
    return f"{MARKER}\n{text}"


@pytest.fixture
def pr(fake_github: FakeGitHub) -> FakeGitHub:
    """The fake with PR #12 of acme/prompts, opened from a branch of the same repository."""
    fake_github.add_pull(REPO, 12, head_sha=HEAD, head_ref="better-prompt", user="alice")
    return fake_github


@pytest.fixture
def client(fake_github: FakeGitHub) -> Iterator[GitHub]:
    with GitHub(
        token=FAKE_TOKEN, repository=REPO, api_url=fake_github.url, backoff_seconds=0.01
    ) as github:
        yield github


# -- pull requests -------------------------------------------------------------------------


def test_pull_request_from_same_repository(pr: FakeGitHub, client: GitHub) -> None:
    pull = client.pull_request(12)

    assert pull.number == 12
    assert pull.head_sha == HEAD
    assert pull.head_ref == "better-prompt"
    assert pull.head_repo_full_name == REPO
    assert pull.base_ref == "main"
    assert pull.base_repo_full_name == REPO
    assert pull.is_fork is False
    assert (pull.draft, pull.state, pull.merged, pull.merge_commit_sha) == (
        False,
        "open",
        False,
        None,
    )
    assert pull.html_url == "https://github.com/acme/prompts/pull/12"
    assert pull.user_login == "alice"
    assert pr.requests == [LoggedRequest("GET", "/repos/acme/prompts/pulls/12", {}, 200)]
    assert client.request_count == 1


def test_pull_request_from_fork(fake_github: FakeGitHub, client: GitHub) -> None:
    fake_github.add_pull(
        REPO, 13, head_sha=HEAD, head_repository="mallory/prompts", head_ref="main", draft=True
    )

    pull = client.pull_request(13)

    assert pull.is_fork is True
    assert pull.head_repo_full_name == "mallory/prompts"
    assert pull.head_ref == "main"
    assert pull.base_repo_full_name == REPO
    assert pull.draft is True


def test_pull_request_from_deleted_fork_counts_as_fork(
    fake_github: FakeGitHub, client: GitHub
) -> None:
    fake_github.add_pull(REPO, 14, head_sha=HEAD, fork_deleted=True)

    pull = client.pull_request(14)

    assert pull.head_repo_full_name is None
    assert pull.is_fork is True


def test_merged_pull_request(fake_github: FakeGitHub, client: GitHub) -> None:
    fake_github.add_pull(REPO, 15, head_sha=HEAD, merged=True, merge_commit_sha=MERGE)

    pull = client.pull_request(15)

    assert (pull.state, pull.merged, pull.merge_commit_sha) == ("closed", True, MERGE)


@pytest.mark.robustness(
    area="faults",
    case="GitHub answers 404 for the pull request",
    behaviour="a clear error naming the request; a 404 is not retried",
)
def test_unknown_pull_request_is_a_clear_error(pr: FakeGitHub, client: GitHub) -> None:
    with pytest.raises(GitHubError) as raised:
        client.pull_request(99)

    assert not isinstance(raised.value, GitHubPermissionError)
    message = str(raised.value)
    assert "read pull request #99" in message
    assert "404 Not Found on GET /repos/acme/prompts/pulls/99" in message
    assert pr.count() == 1  # a 404 is not retried


def test_pull_requests_for_merge_commit(fake_github: FakeGitHub, client: GitHub) -> None:
    fake_github.add_pull(REPO, 15, head_sha=HEAD, merged=True, merge_commit_sha=MERGE)
    fake_github.add_pull(REPO, 16, head_sha="3" * 40)

    pulls = client.pull_requests_for_commit(MERGE)

    assert [pull.number for pull in pulls] == [15]
    # The list endpoint has no `merged` field: it is derived from `merged_at`.
    assert pulls[0].merged is True
    assert pulls[0].merge_commit_sha == MERGE
    assert client.pull_requests_for_commit("4" * 40) == []
    assert fake_github.count("GET", f"/repos/acme/prompts/commits/{MERGE}/pulls") == 1


# -- changed files -------------------------------------------------------------------------


def test_changed_files_follow_pagination(fake_github: FakeGitHub, client: GitHub) -> None:
    files = [changed_file(f"prompts/p{index:03}.yaml") for index in range(247)]
    files[5] = changed_file("prompts/new.yaml", "renamed", previous_filename="prompts/old.yaml")
    files[150] = changed_file("prompts/gone.yaml", "removed", patch=None)
    fake_github.add_pull(REPO, 12, head_sha=HEAD, files=files)

    changed = client.changed_files(12)

    assert [file.filename for file in changed] == [file["filename"] for file in files]
    assert changed[5].status == "renamed"
    assert changed[5].previous_filename == "prompts/old.yaml"
    assert changed[150].status == "removed"
    assert changed[0].previous_filename is None
    listing = fake_github.requests
    assert [(request.path, request.query) for request in listing] == [
        ("/repos/acme/prompts/pulls/12/files", {"per_page": "100"}),
        # GitHub's Link header points at /repositories/{id}/...: followed as given.
        (listing[1].path, {"per_page": "100", "page": "2"}),
        (listing[2].path, {"per_page": "100", "page": "3"}),
    ]
    assert listing[1].path.startswith("/repositories/")
    assert client.request_count == 3


def test_changed_files_stop_at_githubs_3000_limit(fake_github: FakeGitHub, client: GitHub) -> None:
    files = [changed_file(f"f{index}.txt") for index in range(3005)]
    fake_github.add_pull(REPO, 12, head_sha=HEAD, files=files)

    assert len(client.changed_files(12)) == 3000
    assert client.request_count == 30


@pytest.mark.robustness(
    area="faults",
    case="one page of a paginated listing answered 502",
    behaviour="that page alone is asked again; the listing is complete",
)
def test_failed_page_is_retried_alone(fake_github: FakeGitHub, client: GitHub) -> None:
    files = [changed_file(f"f{index}.txt") for index in range(150)]
    fake_github.add_pull(REPO, 12, head_sha=HEAD, files=files)
    fake_github.fail_next("GET", r"/repositories/\d+/pulls/12/files", 502)

    assert len(client.changed_files(12)) == 150
    assert [request.status for request in fake_github.requests] == [200, 502, 200]


# -- the comment ---------------------------------------------------------------------------


def test_upsert_creates_then_edits_in_place(pr: FakeGitHub, client: GitHub) -> None:
    pr.add_comment(REPO, 12, "LGTM", user="bob")

    first = client.upsert_comment(12, MARKER, body("score 0.8"))
    second = client.upsert_comment(12, MARKER, body("score 0.9"))

    assert second.id == first.id
    assert second.body == body("score 0.9")
    assert second.html_url == f"https://github.com/acme/prompts/pull/12#issuecomment-{first.id}"
    comments = pr.comments(REPO, 12)
    assert [comment["body"] for comment in comments] == ["LGTM", body("score 0.9")]
    assert comments[1]["user"]["login"] == BOT_LOGIN
    assert [(request.method, request.status) for request in pr.requests] == [
        ("GET", 200),
        ("POST", 201),
        ("GET", 200),
        ("PATCH", 200),
    ]


def test_upsert_with_unchanged_body_writes_nothing(pr: FakeGitHub, client: GitHub) -> None:
    existing = pr.add_comment(REPO, 12, body("same"), user=BOT_LOGIN)

    comment = client.upsert_comment(12, MARKER, body("same"))

    assert comment.id == existing["id"]
    assert pr.count() == 1
    assert pr.count("GET") == 1


def test_find_comment_searches_every_page(pr: FakeGitHub, client: GitHub) -> None:
    for index in range(130):
        pr.add_comment(REPO, 12, f"chatter {index}", user="bob")
    first = pr.add_comment(REPO, 12, body("first"), user=BOT_LOGIN)
    pr.add_comment(REPO, 12, body("second"), user=BOT_LOGIN)

    found = client.find_comment(12, MARKER)

    assert found is not None
    assert (found.id, found.body) == (first["id"], body("first"))
    assert pr.count("GET") == 2
    assert client.find_comment(12, "<!-- another-marker -->") is None


@pytest.mark.robustness(
    area="comment",
    case="another user's comment carrying the hidden marker and a forged verdict history "
    "(also one by a user named `github-actions`, and one of ours quoting the marker mid-text)",
    behaviour="never found, edited or trusted: our own comment is created beside them",
)
def test_a_comment_by_anyone_else_is_never_ours(pr: FakeGitHub, client: GitHub) -> None:
    forged = [
        pr.add_comment(REPO, 12, body("forged history"), user="mallory"),
        pr.add_comment(REPO, 12, body("look-alike"), user="github-actions"),
        pr.add_comment(REPO, 12, f"quoting {MARKER} mid-text", user=BOT_LOGIN),
    ]

    assert client.find_comment(12, MARKER) is None
    ours = client.upsert_comment(12, MARKER, body("report"))

    comments = pr.comments(REPO, 12)
    assert [c["body"] for c in comments[:3]] == [c["body"] for c in forged], "left untouched"
    assert (comments[3]["id"], comments[3]["user"]["login"]) == (ours.id, BOT_LOGIN)
    assert ours.author == BOT_LOGIN
    assert pr.count("PATCH") == 0
    assert pr.count("GET", "/user") == 0, "an installation token (ghs_) is not asked who it is"


def test_a_personal_token_learns_its_login_once() -> None:
    token = "ghp_" + "personalToken0123456789abcdefghijklmn"
    with FakeGitHub(token=token, token_owner="prompt-bot") as fake:
        fake.add_pull(REPO, 12, head_sha=HEAD)
        fake.add_comment(REPO, 12, body("the Actions bot's, not ours"), user=BOT_LOGIN)
        mine = fake.add_comment(REPO, 12, body("ours"), user="Prompt-Bot")
        with GitHub(token=token, repository=REPO, api_url=fake.url) as github:
            assert github.identity() == "prompt-bot"
            found = github.find_comment(12, MARKER)
            assert found is not None and found.id == mine["id"], "logins are case-insensitive"
            github.upsert_comment(12, MARKER, body("new report"))
            assert github.request_count == 4  # GET /user, listing, listing again, PATCH
        assert fake.count("GET", "/user") == 1


def test_a_token_get_user_refuses_writes_as_the_actions_bot() -> None:
    """An unprefixed installation token (older GHES): GET /user answers 403 once."""
    with FakeGitHub(token="v1.0123456789abcdef0123456789abcdef01234567") as fake:
        fake.add_pull(REPO, 12, head_sha=HEAD)
        theirs = fake.add_comment(REPO, 12, body("ours"), user=BOT_LOGIN)
        with GitHub(token=fake.token, repository=REPO, api_url=fake.url) as github:
            found = github.find_comment(12, MARKER)
            assert found is not None and found.id == theirs["id"]
            assert github.identity() == BOT_LOGIN
        assert [(r.method, r.path, r.status) for r in fake.requests][:1] == [("GET", "/user", 403)]
        assert fake.count("GET", "/user") == 1


def test_a_given_login_is_trusted_without_asking(pr: FakeGitHub) -> None:
    """A GitHub App's own installation token writes as `<slug>[bot]`: the input says so."""
    pr.add_comment(REPO, 12, body("the Actions bot's"), user=BOT_LOGIN)
    app = pr.add_comment(REPO, 12, body("the app's"), user="prompt-app[bot]")
    with GitHub(token=FAKE_TOKEN, repository=REPO, api_url=pr.url, login="prompt-app[bot]") as gh:
        found = gh.find_comment(12, MARKER)
    assert found is not None and found.id == app["id"]
    assert pr.count("GET", "/user") == 0


def test_a_rejected_token_cannot_learn_its_identity() -> None:
    with FakeGitHub(token="ghp_" + "right0123456789abcdefghijklmnopqrstuv") as fake:
        fake.add_pull(REPO, 12, head_sha=HEAD)
        wrong = "ghp_" + "wrong0123456789abcdefghijklmnopqrstuv"
        with (
            GitHub(token=wrong, repository=REPO, api_url=fake.url) as github,
            pytest.raises(GitHubError, match="401 Bad credentials on GET /user") as raised,
        ):
            github.find_comment(12, MARKER)
        assert wrong not in str(raised.value)


def test_upsert_requires_the_marker_in_the_body(pr: FakeGitHub, client: GitHub) -> None:
    with pytest.raises(ValueError, match="marker"):
        client.upsert_comment(12, MARKER, "no marker here")
    assert pr.count() == 0


@pytest.mark.robustness(
    area="faults",
    case="the comment POST answered 502 although GitHub created the comment",
    behaviour="found by its marker before any re-post: one comment, never two",
)
def test_create_answered_502_after_it_took_effect_leaves_one_comment(
    pr: FakeGitHub, client: GitHub
) -> None:
    pr.fail_next("POST", COMMENTS, 502, apply=True)

    comment = client.upsert_comment(12, MARKER, body("report"))

    comments = pr.comments(REPO, 12)
    assert [item["body"] for item in comments] == [body("report")]
    assert comment.id == comments[0]["id"]
    assert pr.count("POST") == 1  # never re-posted blindly
    assert pr.count("GET", "/repos/acme/prompts/issues/12/comments") == 2


@pytest.mark.robustness(
    area="faults",
    case="the comment POST answered 502 and nothing was created",
    behaviour="posted again after checking: one comment",
)
def test_create_answered_502_without_effect_is_posted_again(pr: FakeGitHub, client: GitHub) -> None:
    pr.fail_next("POST", COMMENTS, 502, apply=False)

    comment = client.upsert_comment(12, MARKER, body("report"))

    assert [item["id"] for item in pr.comments(REPO, 12)] == [comment.id]
    assert [request.status for request in pr.requests if request.method == "POST"] == [502, 201]


@pytest.mark.robustness(
    area="faults",
    case="the connection dropped after the comment POST took effect",
    behaviour="found before any re-post: one comment",
)
def test_create_whose_answer_was_lost_leaves_one_comment(pr: FakeGitHub, client: GitHub) -> None:
    pr.fail_next("POST", COMMENTS, apply=True, disconnect=True)

    comment = client.upsert_comment(12, MARKER, body("report"))

    assert [item["id"] for item in pr.comments(REPO, 12)] == [comment.id]
    assert pr.count("POST") == 1


@pytest.mark.robustness(
    area="faults",
    case="another run's comment appears while our POST fails",
    behaviour="that comment (ours, by identity) is edited: one comment",
)
def test_create_that_failed_finds_a_racing_comment_and_edits_it(
    pr: FakeGitHub, client: GitHub
) -> None:
    def another_run_comments(fake: FakeGitHub) -> None:
        fake.add_comment(REPO, 12, body("older report"), user=BOT_LOGIN)

    pr.fail_next("POST", COMMENTS, 502, apply=False, on_fail=another_run_comments)

    comment = client.upsert_comment(12, MARKER, body("new report"))

    assert [(item["id"], item["body"]) for item in pr.comments(REPO, 12)] == [
        (comment.id, body("new report"))
    ]
    assert (pr.count("POST"), pr.count("PATCH")) == (1, 1)


@pytest.mark.robustness(
    area="faults",
    case="every comment POST answered 502",
    behaviour="an error after 4 tries with a look before each; nothing posted twice",
)
def test_create_failing_every_time_is_an_error_and_posts_nothing_twice(
    pr: FakeGitHub, client: GitHub
) -> None:
    pr.fail_next("POST", COMMENTS, 502, times=10, apply=False)

    with pytest.raises(GitHubError) as raised:
        client.upsert_comment(12, MARKER, body("report"))

    message = str(raised.value)
    assert "create a comment on PR #12" in message
    assert "POST /repos/acme/prompts/issues/12/comments failed 4 times" in message
    assert "502 Bad Gateway" in message
    assert pr.comments(REPO, 12) == []
    assert pr.count("POST") == 4
    assert pr.count("GET") == 5  # the first look, one before each new POST, one at the end
    assert client.request_count == len(pr.requests)


@pytest.mark.robustness(
    area="faults",
    case="a read-only token (a fork's PR) creating the comment: 403",
    behaviour="a permission error naming `pull-requests: write`, not retried",
)
def test_read_only_token_cannot_comment(pr: FakeGitHub, client: GitHub) -> None:
    pr.read_only = True

    with pytest.raises(GitHubPermissionError) as raised:
        client.upsert_comment(12, MARKER, body("report"))

    message = str(raised.value)
    assert message.startswith("GitHub refused to create a comment on PR #12 (403 Resource not")
    assert "POST /repos/acme/prompts/issues/12/comments" in message
    assert "pull requests from forks" in message
    assert "`pull-requests: write`" in message
    assert isinstance(raised.value, InfrastructureError)
    assert raised.value.exit_code == 3
    assert pr.count("POST") == 1  # a refusal is not retried


def test_read_only_token_cannot_edit_the_comment(pr: FakeGitHub, client: GitHub) -> None:
    existing = pr.add_comment(REPO, 12, body("old"), user=BOT_LOGIN)
    pr.read_only = True

    with pytest.raises(GitHubPermissionError, match=f"edit comment {existing['id']} on PR #12"):
        client.upsert_comment(12, MARKER, body("new"))
    assert pr.count("PATCH") == 1


@pytest.mark.robustness(
    area="faults",
    case="GitHub rejects a comment body over 65,536 characters (422)",
    behaviour="a clear error quoting GitHub's reason; not retried",
)
def test_comment_too_long_is_rejected_without_retry(pr: FakeGitHub, client: GitHub) -> None:
    with pytest.raises(GitHubError) as raised:
        client.upsert_comment(12, MARKER, body("x" * 70_000))

    assert not isinstance(raised.value, GitHubPermissionError)
    assert "422 Validation Failed (Body is too long (maximum is 65536 characters))" in str(
        raised.value
    )
    assert pr.count("POST") == 1


# -- the commit status ---------------------------------------------------------------------


def test_set_status_is_exactly_one_post(pr: FakeGitHub, client: GitHub) -> None:
    client.set_status(HEAD, "failure", "2 regressions", target_url="https://ci.example/run/1")

    assert pr.requests == [LoggedRequest("POST", f"/repos/acme/prompts/statuses/{HEAD}", {}, 201)]
    assert client.request_count == 1
    [status] = pr.statuses(REPO, HEAD)
    assert (status["state"], status["context"], status["description"], status["target_url"]) == (
        "failure",
        "prompt-review",
        "2 regressions",
        "https://ci.example/run/1",
    )


def test_set_status_without_target_url_and_with_another_context(
    pr: FakeGitHub, client: GitHub
) -> None:
    client.set_status(HEAD, "pending", "evaluating", context="prompt-review/capital")

    [status] = pr.statuses(REPO, HEAD)
    assert (status["context"], status["target_url"]) == ("prompt-review/capital", None)


def test_status_description_is_cut_to_140_characters(pr: FakeGitHub, client: GitHub) -> None:
    exact = "a" * 140
    client.set_status(HEAD, "success", exact)
    client.set_status(HEAD, "success", "b" * 141)

    newest, oldest = pr.statuses(REPO, HEAD)
    assert oldest["description"] == exact
    assert newest["description"] == "b" * 139 + "…"
    assert len(newest["description"]) == 140


@pytest.mark.robustness(
    area="faults",
    case="a read-only token setting the status: 403",
    behaviour="a permission error naming `statuses: write`, not retried",
)
def test_read_only_token_cannot_set_status(pr: FakeGitHub, client: GitHub) -> None:
    pr.read_only = True

    with pytest.raises(GitHubPermissionError) as raised:
        client.set_status(HEAD, "success", "ok")

    assert "`statuses: write`" in str(raised.value)
    assert f"POST /repos/acme/prompts/statuses/{HEAD}" in str(raised.value)
    assert pr.count() == 1


# -- retries -------------------------------------------------------------------------------


@pytest.mark.robustness(
    area="faults",
    case="GET answered 502 twice",
    behaviour="retried with backoff, then succeeds",
)
def test_get_answered_5xx_is_retried(pr: FakeGitHub, client: GitHub) -> None:
    pr.fail_next("GET", r"/repos/acme/prompts/pulls/12", 502, times=2)

    assert client.pull_request(12).head_sha == HEAD
    assert [request.status for request in pr.requests] == [502, 502, 200]
    assert client.request_count == 3


@pytest.mark.robustness(
    area="faults",
    case="GET answered 503 (an HTML page) every time",
    behaviour="an error after 4 tries naming the request and the status",
)
def test_get_failing_every_time_is_an_error_after_retries(pr: FakeGitHub, client: GitHub) -> None:
    pr.fail_next("GET", r"/repos/acme/prompts/pulls/12", 503, times=10, body="<html>oops</html>")

    with pytest.raises(GitHubError) as raised:
        client.pull_request(12)

    assert not isinstance(raised.value, GitHubPermissionError)
    message = str(raised.value)
    assert "GET /repos/acme/prompts/pulls/12 failed 4 times" in message
    assert "503 Service Unavailable" in message
    assert pr.count() == 4


def test_status_post_answered_5xx_is_retried(pr: FakeGitHub, client: GitHub) -> None:
    pr.fail_next("POST", r"/repos/acme/prompts/statuses/\w+", 500, apply=False)

    client.set_status(HEAD, "success", "ok")

    assert len(pr.statuses(REPO, HEAD)) == 1
    assert pr.count("POST") == 2


@pytest.mark.robustness(
    area="faults",
    case="429 with `Retry-After: 1`",
    behaviour="waits as asked, then succeeds",
)
def test_retry_after_is_honoured(pr: FakeGitHub, client: GitHub) -> None:
    pr.fail_next(
        "POST", r"/repos/acme/prompts/statuses/\w+", 429, apply=False, headers={"Retry-After": "1"}
    )

    started = time.monotonic()
    client.set_status(HEAD, "success", "ok")

    assert time.monotonic() - started >= 0.95  # the backoff alone would wait 0.01 s
    assert [request.status for request in pr.requests] == [429, 201]


@pytest.mark.robustness(
    area="faults",
    case="403 with `Retry-After: 3600`",
    behaviour="the wait is capped (max_retry_wait_seconds), then retried",
)
def test_retry_after_is_capped(pr: FakeGitHub) -> None:
    pr.fail_next("GET", r"/repos/acme/prompts/pulls/12", 403, headers={"Retry-After": "3600"})

    started = time.monotonic()
    with GitHub(
        token=FAKE_TOKEN,
        repository=REPO,
        api_url=pr.url,
        backoff_seconds=0.01,
        max_retry_wait_seconds=0.2,
    ) as github:
        github.pull_request(12)

    assert 0.2 <= time.monotonic() - started < 5
    assert [request.status for request in pr.requests] == [403, 200]


@pytest.mark.robustness(
    area="faults",
    case="403 secondary rate limit without `Retry-After`",
    behaviour="recognised by its wording and retried with backoff",
)
def test_secondary_rate_limit_without_retry_after_is_retried(
    pr: FakeGitHub, client: GitHub
) -> None:
    pr.fail_next("GET", r"/repos/acme/prompts/pulls/12", 403)  # GitHub's wording, no header

    client.pull_request(12)

    assert [request.status for request in pr.requests] == [403, 200]


@pytest.mark.robustness(
    area="faults",
    case="primary rate limit exhausted, reset in an hour",
    behaviour="an error at once, not an hour's sleep",
)
def test_exhausted_primary_rate_limit_is_not_waited_for_an_hour(
    pr: FakeGitHub, client: GitHub
) -> None:
    reset = str(int(time.time()) + 3600)
    pr.fail_next(
        "GET",
        r"/repos/acme/prompts/pulls/12",
        403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
        body={"message": "API rate limit exceeded for installation ID 1.", "documentation_url": ""},
    )

    with pytest.raises(GitHubError, match="403 API rate limit exceeded"):
        client.pull_request(12)
    assert pr.count() == 1


@pytest.mark.robustness(
    area="faults",
    case="GitHub unreachable (closed port)",
    behaviour="an error after the retries, naming the request",
)
def test_unreachable_server_is_an_error_after_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with GitHub(
        token=FAKE_TOKEN,
        repository=REPO,
        api_url=f"http://127.0.0.1:{port}",
        retries=2,
        backoff_seconds=0.01,
    ) as github:
        with pytest.raises(GitHubError) as raised:
            github.set_status(HEAD, "error", "MLflow is down")
        assert github.request_count == 3

    message = str(raised.value)
    assert f"POST /repos/acme/prompts/statuses/{HEAD} failed 3 times" in message
    assert "no answer (ConnectionError" in message


def test_no_throttling_between_requests(pr: FakeGitHub, client: GitHub) -> None:
    # PyGithub's defaults would sleep 0.25 s between requests and 1 s between writes.
    started = time.monotonic()
    for index in range(4):
        client.upsert_comment(12, MARKER, body(f"run {index}"))
        client.set_status(HEAD, "success", f"run {index}")

    assert time.monotonic() - started < 1.0
    assert pr.count() == 12


# -- tokens, GitHub Enterprise Server, the request budget ----------------------------------


@pytest.mark.robustness(
    area="secrets",
    case="a wrong GitHub token (401)",
    behaviour="a clear error pointing at `github_token`, the token not in it; not retried",
)
def test_wrong_token_is_a_clear_error_that_does_not_show_it(pr: FakeGitHub) -> None:
    secret = "ghp-not-the-right-token-0451"
    with GitHub(token=secret, repository=REPO, api_url=pr.url, backoff_seconds=0.01) as github:
        with pytest.raises(GitHubError) as read:
            github.pull_request(12)
        with pytest.raises(GitHubPermissionError) as write:
            github.set_status(HEAD, "success", "ok")

    assert "401 Bad credentials" in str(read.value)
    assert "`github_token`" in str(read.value)
    assert pr.count() == 2  # a 401 is not retried
    for error in (read.value, write.value):
        assert secret not in str(error)
        assert secret not in repr(error)


@pytest.mark.robustness(
    area="secrets",
    case="errors and debug logs of the GitHub client",
    behaviour="the token appears in no repr, error or log line",
)
def test_token_never_shows_in_repr_errors_or_logs(
    pr: FakeGitHub, client: GitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pr.fail_next("GET", r"/repos/acme/prompts/pulls/12", 502)
    pr.fail_next("GET", COMMENTS, 500, times=10)

    client.pull_request(12)
    with pytest.raises(GitHubError) as raised:
        client.upsert_comment(12, MARKER, body("report"))

    assert "retrying" in caplog.text
    assert "/repos/acme/prompts/pulls/12" in caplog.text  # PyGithub's debug log ran too
    for text in (repr(client), str(client), str(raised.value), repr(raised.value), caplog.text):
        assert FAKE_TOKEN not in text
    assert repr(client) == f"GitHub(repository='acme/prompts', api_url='{pr.url}')"


def test_github_enterprise_server_api_root() -> None:
    with FakeGitHub(prefix="/api/v3") as fake:
        files = [changed_file(f"prompts/p{index}.yaml") for index in range(120)]
        fake.add_pull(REPO, 12, head_sha=HEAD, files=files)
        assert fake.url.endswith("/api/v3")

        with GitHub(
            token=FAKE_TOKEN, repository=REPO, api_url=fake.url + "/", backoff_seconds=0.01
        ) as github:
            assert github.pull_request(12).head_sha == HEAD
            assert len(github.changed_files(12)) == 120
            github.upsert_comment(12, MARKER, body("report"))
            github.set_status(HEAD, "success", "ok")
            assert github.request_count == len(fake.requests) == 6

        assert len(fake.comments(REPO, 12)) == 1
        assert len(fake.statuses(REPO, HEAD)) == 1
        assert all(request.status in (200, 201) for request in fake.requests)

        without_prefix = fake.url.removesuffix("/api/v3")
        with (
            GitHub(token=FAKE_TOKEN, repository=REPO, api_url=without_prefix) as github,
            pytest.raises(GitHubError, match="404 Not Found"),
        ):
            github.pull_request(12)


def test_request_count_matches_what_the_server_saw(pr: FakeGitHub, client: GitHub) -> None:
    pr.set_files(REPO, 12, [changed_file("prompts/capital.yaml")])
    pr.fail_next("GET", r"/repos/acme/prompts/pulls/12", 502)
    pr.fail_next("POST", COMMENTS, 502, apply=True)

    client.pull_request(12)
    client.changed_files(12)
    client.upsert_comment(12, MARKER, body("report"))
    client.set_status(HEAD, "success", "no regression")

    assert client.request_count == len(pr.requests) == 7
