"""One unary gRPC call with grpcio, and what grpcio-status reads from its failure, as JSON.

Driven by tests/tests/python_interop.rs, which starts the server and asserts on the output.
No generated stubs: the request comes hex-encoded on the command line (the Rust side encodes
it with prost), so the method's message types never need compiling for Python.

    python3 grpc_status_client.py TARGET METHOD REQUEST_HEX [TRACEPARENT]

Prints one JSON object on stdout: {"ok": true} when the call succeeds; otherwise the status
code's name, its message, and the google.rpc.Status details grpcio-status found
(`error_info`, `retry_info`, or null each), with `details` false when the server sent none.
"""

import json
import sys

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

# A bound on the call, so that a server that never answers cannot hang the test.
DEADLINE_SECONDS = 30


def identity(data):
    return data


def describe(err):
    out = {
        "ok": False,
        "code": err.code().name,
        "message": err.details(),
        "details": False,
        "error_info": None,
        "retry_info": None,
    }
    # None when the trailers carry no grpc-status-details-bin: a server that sends no details.
    status = rpc_status.from_call(err)
    if status is None:
        return out
    out["details"] = True
    out["status_code"] = status.code
    out["status_message"] = status.message
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            out["error_info"] = {
                "reason": info.reason,
                "domain": info.domain,
                "metadata": dict(info.metadata),
            }
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            out["retry_info"] = {
                "seconds": retry.retry_delay.seconds,
                "nanos": retry.retry_delay.nanos,
            }
    return out


def main(argv):
    if len(argv) not in (4, 5):
        sys.exit(f"usage: {argv[0]} TARGET METHOD REQUEST_HEX [TRACEPARENT]")
    target, method, request_hex = argv[1], argv[2], argv[3]
    metadata = [("traceparent", argv[4])] if len(argv) == 5 else []
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            method, request_serializer=identity, response_deserializer=identity
        )
        try:
            call(bytes.fromhex(request_hex), metadata=metadata, timeout=DEADLINE_SECONDS)
            out = {"ok": True}
        except grpc.RpcError as err:
            out = describe(err)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
