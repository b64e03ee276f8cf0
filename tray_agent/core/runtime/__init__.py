"""Worker runtime: Docker engine, images, the worker container, Ollama, health, the supervisor, keep-awake, autostart.

Entry points for the agent:
    docker_engine.connect() / start_engine()           -> (DockerClient, Endpoint) or DockerUnavailable subclasses
    worker_container.WorkerSpec.build(paths, network, models, password, ...)
    supervisor.Supervisor(paths, spec_provider, on_update, ...).start()
        .pause() .stop_now() .resume() .restart() .hold(reason) .remove_container() .update_image()
        .check_image_update() .active_jobs() .docker_client(quiet)
        (every stop/recreate waits for worker_active_jobs == 0: drain_timeout, on_progress, cancel)
    ollama.OllamaManager(url, docker_client=..., pins=...).ensure_running() .ensure_models() .pin() .unload()
    ollama.check_model_invariant(onchain, supported, tags)
    keepawake.KeepAwake()       autostart.install()/uninstall()      images.build_sim_image()

Supervisor parts: events.DockerEventWatcher (Docker events), health.classify (pure: facts → state/message/fix),
crashpolicy.CrashPolicy (crash loop + backoff, clock injected), drain.wait_idle (wait for running jobs),
pinning.ModelPinner (served models pinned, dropped ones unloaded), images.ImagePins (image held by digest),
control.WorkerControl (the user operations above).
"""
