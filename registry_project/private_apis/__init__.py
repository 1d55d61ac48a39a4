"""Every private API of a framework the registry relies on, in one place, each with what it relies on.

A private API is an underscore name, an internal module or an undocumented behaviour of Django, DRF,
drf-spectacular, gunicorn or OpenTelemetry's instrumentations: nothing promises it survives an upgrade. Each is wrapped here, one module
per framework, and the rest of the code calls the wrapper, so an upgrade's breakage shows up in one folder; CI runs
the suite on the next Django release as well as the pinned one (``make test-django-next``, called by ``.ci/run``),
so it is known before anyone upgrades. Each wrapper's docstring names the private name or behaviour and the
versions it was read against.

- ``for_django``: ``Model._state``
  (``mark_saved``, ``being_added``); the SQL compiler's ``select``/``klass_info``/``annotation_col_map``/
  ``get_converters`` and ``get_related_populators`` (``compile_rows``, ``CompiledRows``); the PostgreSQL
  backend's ``create_cursor`` time-zone step (``server_binding_cursor``); ``RedisCache._cache`` (``redis_client``)
  and ``RedisCache._servers`` (``redis_servers``); ``OutputWrapper._out`` (``output_stream``).
- ``for_drf``: ``Request._not_authenticated`` (``leave_unauthenticated``); ``Request._request``
  (``django_request``); ``rest_framework.utils.mediatypes._MediaType`` (``media_type_params``).
- ``for_spectacular``: ``AutoSchema._get_request_body``, ``_is_list_view``, ``_get_filter_parameters``,
  ``_get_parameters``, ``_get_response_bodies`` (``AutoSchemaHooks``).
- ``for_gunicorn``: ``gunicorn.util.write_error`` replaced (``replace_error_writer``);
  ``Logger._compute_access_log_enabled`` (``LoggerHooks``). Imports no Django module itself.
- ``for_opentelemetry``: opentelemetry-instrumentation-psycopg's ``_new_cursor_factory``
  (``trace_prepared_cursors``).

jsonschema's ``uniqueItems`` keyword is read from the public ``Draft202012Validator.VALIDATORS``.

Nothing is imported here: each caller imports the one module it needs (gunicorn loads only ``for_gunicorn``).
"""
