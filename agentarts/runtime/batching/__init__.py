"""Dynamic batching by Triton's rules: ``threads`` (leader/follower, for thread callers),
``coroutines`` (for asyncio callers, the HTTP and gRPC servers) and ``admission`` (overload
refused before a request's body is read)."""
