from tests.harness.fixtures import docker_ready  # noqa: F401  (fixture)
