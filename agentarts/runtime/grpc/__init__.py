"""The KServe v2 gRPC front end (``server``), served with tritonclient's generated stubs."""
