"""The faces of the one core: gRPC and REST (JSON over HTTP), each turning its wire format into
the API's request messages and calling the same methods (``_methods``)."""

from ._grpc import generic_handler
from ._rest import rest_routes

__all__ = ["generic_handler", "rest_routes"]
