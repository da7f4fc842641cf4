"""Hand-written fakes of services that cannot run in the tests, backed by the real test database."""
