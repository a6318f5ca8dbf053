"""Controllers: one package each, run by the controller-manager (`manager.py`).

Every controller follows the Kubernetes pattern (see `base.py`): informer event handlers only enqueue
`namespace/name` keys; one level-triggered, idempotent `sync(key)` reads the informer caches, acts on
desired-minus-actual through the API, writes status through `/status`, and keeps expectations so it
does not act twice before its own writes come back. Controllers reach the cluster only through
`kybernetes.client`; they never import the API server or storage.
"""
