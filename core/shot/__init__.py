"""The shot pipeline: presets, plans, the session, segmenters and jobs (Qt-free).

The app's engine, the CLI, the benchmarks and farm workers all drive a shot through
`core.shot.session.ShotSession`; see shared ARCHITECTURE.md "The shot pipeline".
"""
