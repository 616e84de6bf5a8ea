"""The KServe v2 HTTP front end (``server``, FastAPI), its client (``client.HttpRuntime``), its
Prometheus text (``metrics``) and big-body decoding off the event loop (``offload``)."""
