# Leitstand's two everyday commands (see README.md):
#   make demo   replays the example day through the example bundles and prints the SLA report
#   make test   runs the whole test suite (formatting, lints, unit and integration tests, docs)
# Both install what they need: the wasm32-wasip2 target for the guest plugins, and
# componentize-py (from PyPI, into target/python-venv) for the plugin written in Python;
# `make test` also the official CloudEvents SDK for Python for the interoperability test, and
# the PyPI package `holidays` the calendar's public holidays are checked against.

CARGO ?= cargo
SHELL := /bin/bash

.PHONY: demo test setup guests guest-tests lint bench broker database ops-tools interop-tools calendar-reference

setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# The guest plugins (plugins/, their own workspace) build into target/wasm32-wasip2/release,
# where the example bundles expect them, whatever CARGO_TARGET_DIR says for the host.
guests: setup
	cd plugins && env -u CARGO_TARGET_DIR $(CARGO) build --release --locked
	plugins/python/build.sh

# Unit tests of the SDK and the plugins' pure logic run natively (their host imports are
# not called there); the plugins' fixture suites run through the harness in `cargo test`.
guest-tests: setup
	cd plugins && env -u CARGO_TARGET_DIR $(CARGO) test --locked --target $$(rustc -vV | sed -n 's/^host: //p') \
		-p leitstand-sdk -p leitstand-rota -p leitstand-escalation -p leitstand-pool -p leitstand-ministry -p leitstand-switchboard

demo: guests
	$(CARGO) run --locked -p leitstand -- replay --bundles examples/bundles \
		--commands target/example-commands.jsonl examples/day.jsonl

lint:
	$(CARGO) fmt --all --check
	cd plugins && $(CARGO) fmt --all --check
	cd plugins && env -u CARGO_TARGET_DIR $(CARGO) clippy --locked --release -- -D warnings
	$(CARGO) clippy --locked --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps --workspace

# RabbitMQ for the broker tests: started when nothing answers on 127.0.0.1:5672.
broker:
	@if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then \
		echo "starting RabbitMQ"; \
		rabbitmq-server -detached; \
		for i in $$(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done; \
		rabbitmqctl await_startup >/dev/null; \
	fi
	@(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || { echo "RabbitMQ is not reachable on 127.0.0.1:5672"; exit 1; }

# PostgreSQL for the store tests: started when nothing answers on 127.0.0.1:5432.
database:
	@if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
		echo "starting PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start; \
		for i in $$(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break; sleep 1; done; \
	fi
	@(exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null || { echo "PostgreSQL is not reachable on 127.0.0.1:5432"; exit 1; }

# The independent reference for the calendar's public holidays (core/calendar/tests/
# reference.rs): the PyPI package `holidays` at the version pinned in
# core/calendar/requirements-test.txt, in target/python-venv beside componentize-py.
# Installed again only when the pins change.
calendar-reference:
	@stamp=target/python-venv.calendar-requirements; \
	if [ ! -x target/python-venv/bin/python ] || ! cmp -s core/calendar/requirements-test.txt $$stamp; then \
		echo "installing $$(grep -v '^#' core/calendar/requirements-test.txt | tr '\n' ' ')into target/python-venv"; \
		rm -f $$stamp; \
		$${PYTHON:-python3} -m venv target/python-venv && \
		target/python-venv/bin/pip install --quiet --disable-pip-version-check -r core/calendar/requirements-test.txt && \
		cp core/calendar/requirements-test.txt $$stamp; \
	fi

# Debian tools the tests use, installed when missing: promtool and prometheus (package
# prometheus) for the rule checks and the live dashboard test of ops/, systemd-analyze
# (package systemd) for the unit check, chromium for the HTML report's test. On a machine
# running systemd, Debian's prometheus package also enables a Prometheus service on :9090.
ops-tools:
	@missing=""; \
	{ command -v promtool && command -v prometheus; } >/dev/null || missing="$$missing prometheus"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "installing$$missing"; \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# The official CloudEvents SDK for Python and pika, pinned in
# core/leitstand/tests/interop/requirements.txt, in target/python-venv beside
# componentize-py (after `guests`, whose build.sh makes the environment): the
# interoperability test (core/leitstand/tests/sdk_interop.rs) publishes and reads with them.
# Installed again only when the requirements change. PYTHON names the interpreter that
# creates the environment when there is none (default python3, ≥ 3.10 for the SDK).
INTEROP_REQUIREMENTS := core/leitstand/tests/interop/requirements.txt
interop-tools: guests
	@venv=target/python-venv; stamp=target/python-venv.interop; \
	if ! cmp -s $(INTEROP_REQUIREMENTS) $$stamp || ! $$venv/bin/python -c 'import cloudevents, pika' 2>/dev/null; then \
		echo "installing $$(grep -v '^#' $(INTEROP_REQUIREMENTS) | tr '\n' ' ')into $$venv"; \
		rm -f $$stamp; \
		[ -x $$venv/bin/python ] || $${PYTHON:-python3} -m venv $$venv; \
		$$venv/bin/pip install --quiet --disable-pip-version-check -r $(INTEROP_REQUIREMENTS) && \
		cp $(INTEROP_REQUIREMENTS) $$stamp; \
	fi

test: guests guest-tests interop-tools lint broker database ops-tools calendar-reference
	$(CARGO) test --locked --workspace

bench: guests broker database
	$(CARGO) bench --locked -p leitstand
