"""Storage: tables, repositories, migrations. The only layer that knows the database."""
