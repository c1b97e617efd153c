"""The stores: ClickHouse for events, Postgres for tenants and credentials."""
