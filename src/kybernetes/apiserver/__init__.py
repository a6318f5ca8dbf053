"""The API server: the Kubernetes REST API over the Store, with watch cache, admission and auth seams.

See `server.py` for the request pipeline and `rest.py` for the generic create / update / delete flow.
"""
