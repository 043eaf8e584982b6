# The two commands of the README. Both set up .venv/ themselves (scripts/ensure_env.sh).
.PHONY: demo test ui soak

demo:  ## set up, generate the embedded CPJUMP1-shaped plates, run the main job, print a summary
	@bash scripts/ensure_env.sh
	@.venv/bin/morph-assets demo

test:  ## set up, run the test suite
	@bash scripts/ensure_env.sh
	@.venv/bin/python -m pytest -q

ui:    ## open the Dagster UI on http://127.0.0.1:3000 (after `make demo`)
	@bash scripts/ensure_env.sh
	@DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.dagster_home} .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

soak:  ## the service deployment under load and faults (Postgres, Redis, daemon, 2 Celery workers; see README "Scale out")
	@bash scripts/ensure_env.sh
	@deploy/soak.sh $(SOAK_ARGS)
