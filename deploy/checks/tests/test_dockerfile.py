"""deploy/Dockerfile: hadolint, and the repository facts it depends on."""

from deploycheck import REPO, dockerfile


def fail_on(problems):
    assert not problems, "\n" + "\n".join(problems)


def test_hadolint():
    fail_on(dockerfile.hadolint_problems(REPO))


def test_sources_build_and_runtime():
    fail_on(dockerfile.problems(REPO))
