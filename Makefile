# Partnerlytics: partner and marketing analytics over gRPC, served as REST/JSON by Envoy.
# `make help` lists the targets.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run dashboard dashboard-screenshots test test-citus citus proto proto-lint proto-breaking proto-baseline gateway-config sdk bench bench-quick soak chaos fuzz lock admin clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@# The repository root and the generated code are importable from the venv.
	$(PY) -c "import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()['purelib'], 'partnerlytics-dev.pth').write_text('$(CURDIR)\n$(CURDIR)/gen\n$(CURDIR)/clients/python\n')"
	@touch $(STAMP)

venv: $(STAMP) ## Create the virtual environment with the pinned dependencies

proto: $(STAMP) $(BUF) ## Generate Python modules, .pyi stubs, the Envoy descriptor set and docs/openapi.json from protos/, then buf lint and buf breaking
	$(PY) tools/genproto.py
	$(PY) tools/genopenapi.py
	@$(MAKE) --no-print-directory proto-lint proto-breaking

BUF := tools/buf/node_modules/.bin/buf
# buf reads the descriptor set make proto builds, filtered to our files (tools/buf/buf.yaml).
BUF_RUN := cd tools/buf && ./node_modules/.bin/buf
BUF_IN := "-\#format=binpb" --config buf.yaml --path partnerlytics < ../../gen/partnerlytics.pb

$(BUF): tools/buf/package.json tools/buf/package-lock.json
	cd tools/buf && npm ci --no-audit --no-fund
	@touch $(BUF)

proto-lint: $(BUF) ## buf lint (STANDARD and COMMENTS) of protos/, on the descriptor set make proto builds
	$(BUF_RUN) lint $(BUF_IN)

proto-breaking: $(BUF) ## buf breaking (FILE) of protos/ against protos/baseline.binpb, the last release's
	$(BUF_RUN) breaking $(BUF_IN) --against ../../protos/baseline.binpb

proto-baseline: $(BUF) ## At a release only: make protos/baseline.binpb, the protos buf breaking holds later changes to
	$(BUF_RUN) build $(BUF_IN) --exclude-source-info -o ../../protos/baseline.binpb

TS_SDK := clients/typescript

$(TS_SDK)/node_modules/.package-lock.json: $(TS_SDK)/package.json $(TS_SDK)/package-lock.json
	cd $(TS_SDK) && npm ci --no-audit --no-fund
	@touch $@

DASHBOARD := dashboard

dashboard: $(TS_SDK)/node_modules/.package-lock.json ## Build the partner dashboard into gateway/dashboard/ (committed; docs/dashboard.md)
	cd $(TS_SDK) && npm run --silent build
	cd $(DASHBOARD) && npm ci --no-audit --no-fund && npm run --silent check && npm run --silent build

dashboard-screenshots: $(STAMP) ## Retake the committed dashboard screenshots (docs/img/dashboard/) with the browser test
	DASHBOARD_SCREENSHOTS=1 $(PY) -m pytest -q tests/sdk/test_dashboard_browser.py

sdk: $(STAMP) $(TS_SDK)/node_modules/.package-lock.json ## Regenerate the SDKs' models and types from docs/openapi.json (after make proto)
	$(PY) tools/gensdk.py
	cd $(TS_SDK) && npm run --silent generate

gateway-config: $(STAMP) ## Render gateway/envoy.compose.yaml, the gateway config of docker-compose.yml
	$(PY) -m gateway.envoy_config --compose --out gateway/envoy.compose.yaml

run: proto ## Start the whole stack with demo data (SERVICE_REPLICAS=2: two of each; Ctrl-C stops it all)
	$(PY) -m stack.run

test: $(STAMP) ## Run the whole test suite (embedded PostgreSQL unless DATABASE_URL is set)
	$(PY) -m pytest

# The contract suite, the write paths and the tests around the schema on a Citus cluster,
# where every multi-shard statement of the app role fails (docs/scaling.md).
CITUS_TESTS ?= tests/instance/test_instance_contract.py tests/campaign/test_campaign_contract.py tests/affiliate/test_affiliate_contract.py \
	tests/voucher/test_voucher_contract.py tests/voucher/test_voucher_exports_contract.py tests/landing/test_landing_contract.py \
	tests/affiliate/test_affiliate_ingestion.py tests/voucher/test_voucher_ingest.py tests/instance/test_instance_grpc.py tests/campaign/test_campaign_grpc.py \
	tests/landing/test_landing_grpc.py tests/platform/test_lifecycle.py tests/platform/test_retention.py tests/platform/test_erasure.py \
	tests/voucher/test_voucher_worker.py tests/platform/test_resends.py \
	tests/platform/test_reads.py tests/instance/test_list_queries.py tests/platform/test_admin.py tests/platform/test_migrations.py tests/platform/test_citus.py \
	tests/platform/test_cross_account.py tests/platform/test_sessions.py tests/gateway/test_gateway_edges.py tests/gateway/test_hostile_input.py \
	tests/platform/test_ratelimit.py tests/platform/test_error_info.py tests/gateway/test_affiliate_gateway.py tests/gateway/test_voucher_gateway.py \
	tests/platform/test_security.py tests/platform/test_observability.py tests/webhooks/test_webhooks.py tests/exports/test_exports.py
# A distributed schema cannot go below migration c001 (its downgrade says so): that one
# test of plain PostgreSQL is left out on the cluster (docs/scaling.md).
CITUS_DESELECT ?= --deselect tests/platform/test_migrations.py::test_downgrade_to_base_removes_every_table

citus: ## Build and install Citus 13.2.2 into the system PostgreSQL 15 (tools/citus/install.sh; as root; once)
	tools/citus/install.sh

test-citus: $(STAMP) ## The contract suite against a Citus coordinator and two workers started for the run (docs/scaling.md)
	@$(PY) -c "from platform_core.citus_cluster import citus_installed as i; raise SystemExit(not i())" || tools/citus/install.sh
	$(PY) -m platform_core.citus_cluster --refuse-multi-shard -- $(PY) -m pytest $(CITUS_TESTS) $(CITUS_DESELECT)

# Every rate limit raised for the fuzz stack (documented 429s would hide the answers).
FUZZ_RATE_LIMITS := instances.list=1000000/60,instances.details=1000000/60,campaigns.analytics=1000000/60,vouchers.performance=1000000/60,vouchers.trends=1000000/60,vouchers.customers=1000000/60,vouchers.export=1000000/60,vouchers.export_status=1000000/60,affiliate.analytics=1000000/60,affiliate.ingest=1000000/60,landing.track=1000000/60,landing.track.source=1000000/60,landing.dashboard=1000000/60,webhooks.read=1000000/60,webhooks.write=1000000/60
FUZZ_EXAMPLES ?= 300

fuzz: $(STAMP) ## Schemathesis, every check, on every operation through the live gateway, FUZZ_EXAMPLES (300) each (docs/reliability.md)
	RATE_LIMITS=$(FUZZ_RATE_LIMITS) FUZZ_MAX_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -p no:cacheprovider tests/gateway/test_schemathesis.py

bench: proto ## Every benchmark in one run: make run's and compose's stacks vs lean ceilings, then the families and the exports (BENCH_SCALE events and export rows, default 10M; over an hour), then 1 node vs Citus: docs/performance.md
	$(PY) -m bench.all
	$(PY) -m bench.citus

bench-quick: proto ## The same at 200k events (a few minutes): bench/results/performance-quick.md
	$(PY) -m bench.all --quick
	$(PY) -m bench.citus --quick

soak: proto ## Mixed load through the gateway for SOAK_SECONDS (600): docs/reliability.md, "Soak"
	$(PY) -m bench.soak

chaos: $(STAMP) ## The fault scenarios at larger scale (a few minutes): docs/reliability.md, "Faults"
	$(PY) -m bench.chaos

admin: $(STAMP) ## Operator CLI: make admin ARGS="create-account 'Acme'" (needs DATABASE_URL)
	$(PY) -m services.admin $(ARGS)

lock: ## Re-pin requirements.txt from requirements.in in a scratch venv
	rm -rf /tmp/partnerlytics-lock && $(PYTHON) -m venv /tmp/partnerlytics-lock
	/tmp/partnerlytics-lock/bin/pip install --quiet -r requirements.in
	/tmp/partnerlytics-lock/bin/pip freeze > requirements.txt

clean: ## Remove the venv, local data and caches
	rm -rf $(VENV) .data .pytest_cache
