"""The KServe v2 / Open Inference Protocol messages both front ends share: infer requests and
answers (``messages``), Triton's model configuration and statistics, the OpenAPI schema
(``openapi``) and error statuses (``status``). The message functions are re-exported here."""

from agentarts.runtime.kserve.messages import (
    InferRequest,
    decode_request,
    encode_response,
    model_config,
    model_stats,
    parse_header_length,
)

__all__ = [
    "InferRequest",
    "decode_request",
    "encode_response",
    "model_config",
    "model_stats",
    "parse_header_length",
]
