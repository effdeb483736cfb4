"""The API's routers, one module per resource, assembled by `headwater.web.app.make_app`.

    info.py       /healthz, /api/v1/info, /api/v1/openapi.json, /api/v1/docs (dev)
    metrics.py    /metrics (Prometheus: CI and CD in one registry)
    pipelines.py  /api/v1/teams/{team}/pipelines[/{p}[/config|pause|unpause]]
    jobs.py       /api/v1/teams/{team}/pipelines/{p}/jobs[/{j}[/pause|unpause|builds...]]
    builds.py     /api/v1/builds[/{id}[/abort|events|artifacts/{name}]], teams/{t}/builds
    resources.py  /api/v1/teams/{team}/pipelines/{p}/resources[/{r}/...], check/webhook
    tokens.py     /api/v1/tokens[/{name|id}]
    cd.py         /api/v1/cd/sync, /api/v1/cd/status (and /api/v1/sync, /api/v1/status)

Routes only translate: they take the CI service or the CD controller (`web.deps`),
call one of its methods and shape the answer (`views.py`); errors become statuses in
`web.errors`. No route reads the store.
"""
