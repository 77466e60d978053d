# Leitstand's two everyday commands (see README.md):
#   make demo   replays the example day through the example bundles and prints the SLA report
#   make test   runs the whole test suite (formatting, lints, unit and integration tests, docs)
# Both install what they need: the wasm32-wasip2 target for the guest plugins.

CARGO ?= cargo

.PHONY: demo test setup guests lint bench

setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# The guest plugins (plugins/, their own workspace) build into target/wasm32-wasip2/release.
guests: setup
	cd plugins && $(CARGO) build --release --locked

demo: guests
	$(CARGO) run --release --locked -p leitstand -- replay --bundles examples/bundles \
		--commands target/example-commands.jsonl examples/day.jsonl

lint:
	$(CARGO) fmt --all --check
	cd plugins && $(CARGO) fmt --all --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps -p leitstand

test: guests lint
	$(CARGO) test --locked --workspace

bench: guests
	$(CARGO) bench --locked -p leitstand
