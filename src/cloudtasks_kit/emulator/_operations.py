"""Long-running operations: the ``google.longrunning.Operations`` service, GetOperation.

Cloud Tasks' batch methods answer with an operation, which the official clients' ``result()``
polls with GetOperation until it is done. The emulator finishes a batch before it answers, so
every operation is done when it is made; GetOperation still finds it afterwards (a client may
poll, or ask again later, after a restart too: they are kept in the state file), for ``ttl``
seconds of the emulator's clock and among the last ``limit`` operations, whichever ends first:
a long run of batches keeps a bounded store.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.longrunning import operations_pb2
from google.rpc import status_pb2

from ._clock import Clock
from ._errors import invalid_argument, not_found, shown
from ._methods import MethodTable
from ._names import location_of, new_resource_id
from ._store import Database

__all__ = ["OperationsApi"]

SERVICE = "google.longrunning.Operations"

#: How long (emulator seconds) and how many finished operations stay readable.
DEFAULT_TTL = 3600.0
DEFAULT_LIMIT = 1000

# seq: the order they were made in (with one ttl for all, the first to expire come first).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE NOT NULL,
    expires REAL NOT NULL,
    body BLOB NOT NULL
);
"""


class OperationsApi:
    """The finished operations of one emulator, and the GetOperation that reads them.

    :param rest_transport: the official client whose REST transport maps GetOperation (Cloud
        Tasks': ``GET /v2/{name=projects/*/locations/*/operations/*}``).
    """

    service = SERVICE

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rest_transport: type,
        *,
        ttl: float = DEFAULT_TTL,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.rest_transport = rest_transport
        self._db = db
        self._clock = clock
        self._ttl = ttl
        self._limit = limit
        db.create_tables(_SCHEMA)

    def methods(self) -> MethodTable:
        """What the gRPC and REST faces serve (see ``_server``)."""
        return {
            "GetOperation": (
                self.get_operation,
                operations_pb2.GetOperationRequest,
                operations_pb2.Operation,
            )
        }

    def finished(
        self,
        location: str,
        metadata: Any,
        response: Any | None = None,
        error: tuple[grpc.StatusCode, str] | None = None,
    ) -> Any:
        """A done operation in ``location`` (``projects/P/locations/L``), kept for
        GetOperation: its ``metadata`` and either its ``response`` or its ``error`` (a code
        and a message), all protobuf messages. Called inside the batch's transaction, it is
        stored with the batch's changes or not at all."""
        operation = operations_pb2.Operation(
            name=f"{location}/operations/{new_resource_id()}", done=True
        )
        operation.metadata.Pack(metadata)
        if error is not None:
            code, message = error
            operation.error.CopyFrom(status_pb2.Status(code=code.value[0], message=message))
        elif response is not None:
            operation.response.Pack(response)
        self._keep(operation)
        return operation

    def get_operation(self, request: Any) -> Any:
        name = request.name
        location, _, operation_id = name.rpartition("/operations/")
        if not operation_id or "/" in operation_id:
            raise invalid_argument(
                f"name: {shown(name)} is not an operation name "
                "(projects/PROJECT/locations/LOCATION/operations/OPERATION_ID)"
            )
        location_of(location, "name")
        self._expire()
        row = self._db.execute("SELECT body FROM operations WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise not_found(f"operation {name} does not exist (or finished too long ago)")
        return operations_pb2.Operation.FromString(row[0])

    def clear(self) -> None:
        self._db.execute("DELETE FROM operations")

    def _keep(self, operation: Any) -> None:
        # In the caller's transaction, if any: a batch's operation is stored with its tasks.
        self._expire()
        self._db.execute(
            "INSERT INTO operations (name, expires, body) VALUES (?, ?, ?)",
            (operation.name, self._clock.now() + self._ttl, operation.SerializeToString()),
        )
        self._db.execute(
            "DELETE FROM operations WHERE seq <= (SELECT MAX(seq) FROM operations) - ?",
            (self._limit,),
        )

    def _expire(self) -> None:
        self._db.execute("DELETE FROM operations WHERE expires <= ?", (self._clock.now(),))
