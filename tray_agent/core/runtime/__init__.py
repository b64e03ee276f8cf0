"""Worker runtime: Docker engine, images, the worker container, Ollama, health, the supervisor, keep-awake, autostart.

Entry points for the agent:
    docker_engine.connect() / start_engine()           -> (DockerClient, Endpoint) or DockerUnavailable subclasses
    worker_container.WorkerSpec.build(paths, network, models, password, ...)
    supervisor.Supervisor(paths, spec_provider, on_update, ...).start()
        .pause() .resume() .restart() .hold(reason) .active_jobs() .check_image_update() .update_image()
    ollama.OllamaManager(url, docker_client=...).ensure_running() .ensure_models() .verify_present() .pin() .unload()
    ollama.check_model_invariant(onchain, supported, tags)
    keepawake.KeepAwake()       autostart.install()/uninstall()      images.build_sim_image()
"""
