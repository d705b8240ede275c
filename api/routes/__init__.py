"""The api's routers, one module per group of paths (DESIGN.md §7, docs/contracts.md §D)."""
