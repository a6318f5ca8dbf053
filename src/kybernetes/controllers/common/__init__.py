"""Building blocks shared by the workload controllers (ReplicaSet, ReplicationController, Deployment, Job,
CronJob, DaemonSet, StatefulSet, and any other controller that owns pods or child objects).

* `interfaces` — the narrow seams a controller is written against: `Lister` (an informer's read side plus
  handler registration), `ObjectWriter` (the verbs of a typed resource client) and `Recorder` (events). The
  real `Informer`, `TypedResource` and `EventRecorder` satisfy them structurally; `fake` has in-memory ones
  for unit tests.
* `expectations` — per controller key, the creates and deletes a sync has issued and not yet seen come back
  through the informer; a key whose expectations are pending is not acted on again (5 minute timeout).
* `slowstart` — issue N writes in batches of 1, 2, 4, ... that stop at the first failing batch.
* `pods` — phase, activity, readiness and availability (Ready condition + minReadySeconds), pods from a
  template with a controller ownerReference and `generateName: <owner>-`.
* `ranking` — which pods to delete first when scaling down (Kubernetes' order).
* `controllerref` — controller references: find an object's controller, adopt matching orphans, release
  owned objects that no longer match the selector.
* `intorstr` — `maxSurge: "25%"`-style values resolved against a total.
* `wallclock` — wall time for timestamps, minReadySeconds and schedules, following a `FakeClock` in tests;
  `parse_time` for the timestamps in objects.
* `revisions` — ControllerRevisions, the template history of DaemonSets and StatefulSets.
* `queue` — `run_queue`: a controller's sync workers until cancelled, then the queue shut down.
* `wire` — objects as wire-form dicts and back (for editing templates), and informer keys.
"""

from kybernetes.controllers.common.controllerref import (
    INDEX_CONTROLLER,
    ClaimError,
    claim_objects,
    controller_index,
    controller_key,
    controller_ref,
    is_controlled_by,
    new_controller_ref,
    orphan_index_value,
)
from kybernetes.controllers.common.expectations import EXPECTATIONS_TTL, Expectations
from kybernetes.controllers.common.interfaces import Lister, ObjectWriter, Recorder
from kybernetes.controllers.common.intorstr import scaled_value
from kybernetes.controllers.common.pods import (
    available_at,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_pod_terminal,
    is_terminating,
    labels_of,
    pod_from_template,
    pod_phase,
    ready_condition,
)
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.common.ranking import pods_to_delete
from kybernetes.controllers.common.slowstart import slow_start_batch
from kybernetes.controllers.common.wallclock import Now, WallClock, parse_time, wall_clock
from kybernetes.controllers.common.wire import from_wire, key_of, wire

__all__ = [
    "EXPECTATIONS_TTL",
    "INDEX_CONTROLLER",
    "ClaimError",
    "Expectations",
    "Lister",
    "Now",
    "ObjectWriter",
    "Recorder",
    "WallClock",
    "available_at",
    "claim_objects",
    "controller_index",
    "controller_key",
    "controller_ref",
    "from_wire",
    "is_controlled_by",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "is_pod_terminal",
    "is_terminating",
    "key_of",
    "labels_of",
    "new_controller_ref",
    "orphan_index_value",
    "parse_time",
    "pod_from_template",
    "pod_phase",
    "pods_to_delete",
    "ready_condition",
    "run_queue",
    "scaled_value",
    "slow_start_batch",
    "wall_clock",
    "wire",
]
