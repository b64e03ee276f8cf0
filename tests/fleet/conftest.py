from agent.agent_harness import docker_ready  # noqa: F401  (fixture)
